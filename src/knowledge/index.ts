export { KnowledgeBase, KNOWLEDGE_LIMITS, BRIEFING_MAX_CHARS } from './knowledge.js';
export type { BriefingInput, GitView, KnowledgeDeps, KnowledgeResult, Recorder } from './knowledge.js';
