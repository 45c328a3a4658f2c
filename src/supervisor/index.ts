export { Supervisor } from './supervisor.js';
export type { SupervisorOptions } from './supervisor.js';
export { Organisation } from './organisation.js';
export type { CreateRunRequest, RunStatus, HookPayload } from './organisation.js';
export type { SupervisorInfo } from './run-file.js';
export { readSupervisorInfo, isProcessAlive } from './run-file.js';
export type { MessageFlowRow } from './http-app.js';
export type { ResourceSnapshot, InstanceSample, HostSample, ProcessUsage } from './resources.js';
