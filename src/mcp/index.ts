export type {
  Caller,
  Orchestrator,
  SpawnRequest,
  SpawnResult,
  SendResult,
  InstanceView,
  ProgressReport,
  MergeRequest,
  MergeReport,
  Messaging,
  SendMessageRequest,
  SendMessageResult,
} from './orchestrator.js';
export { TOOLS_BY_ROLE, buildMcpServer, messageView } from './tools.js';
export type { MessageView } from './tools.js';
export { mcpHandler } from './http-endpoint.js';
