export type { TmuxDriverOptions, SessionInfo, NewSessionOptions, PasteOptions, Capture } from './driver.js';
export { TmuxDriver } from './driver.js';
