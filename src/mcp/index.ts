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
  Coordination,
  TaskInput,
  ParallelRequest,
  ParallelResult,
  ConflictReport,
  Knowing,
  KnowledgeAnswer,
} from './orchestrator.js';
export { TOOLS_BY_ROLE, buildMcpServer, messageView, taskView, knowledgeView } from './tools.js';
export type { MessageView, TaskView } from './tools.js';
export { mcpHandler } from './http-endpoint.js';
