export { ApiClient, ensureSupervisor, findSupervisor, checkDependencies } from './client.js';
export { EXIT_CODES, renderTree } from './output.js';
