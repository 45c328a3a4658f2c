export { claudeAdapter, claudeBinary, MCP_SERVER_NAME } from './claude-adapter.js';
