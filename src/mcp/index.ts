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
} from './orchestrator.js';
export { TOOLS_BY_ROLE, buildMcpServer } from './tools.js';
export { mcpHandler } from './http-endpoint.js';
