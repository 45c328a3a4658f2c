export type { GitOptions, MergeResult, WorktreeInfo } from './git.js';
export { Git, initRepo } from './git.js';
