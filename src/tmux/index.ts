export type {
  TmuxDriverOptions,
  SessionInfo,
  NewSessionOptions,
  PasteOptions,
  Capture,
  StyledScreen,
} from './driver.js';
export { TmuxDriver } from './driver.js';
export { CONTROL_SESSION_PREFIX } from './control.js';
