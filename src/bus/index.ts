export { Bus, MAX_WAIT_MS } from './bus.js';
export type { BusDeps, SendRequest, SendOutcome, WaitFilter, DeliveryVia } from './bus.js';
export {
  MAX_BODY_BYTES,
  MAX_SUBJECT_CHARS,
  TOPIC_NAME,
  SYSTEM_TOPICS,
  resolveAddress,
  validateTopic,
} from './address.js';
export type { Sender, SystemTopic, Resolved } from './address.js';
