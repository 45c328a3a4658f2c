import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { AGENT_KINDS, TmuxClaudeError, type Role } from '../core/index.js';
import type { Caller, Orchestrator } from './orchestrator.js';

/** Tools each role may call (ARCHITECTURE.md role table; later issues add theirs). */
export const TOOLS_BY_ROLE: Record<Role, readonly string[]> = {
  executive: ['spawn', 'terminate', 'restart', 'merge_branch', 'send', 'read', 'list', 'get_progress'],
  manager: ['spawn', 'terminate', 'restart', 'merge_branch', 'send', 'read', 'list', 'get_progress'],
  specialist: ['send'],
};

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] };
}

function failure(err: unknown): CallToolResult {
  const e =
    err instanceof TmuxClaudeError
      ? err
      : new TmuxClaudeError('INTERNAL', err instanceof Error ? err.message : String(err));
  const text = `Error ${e.code}: ${e.message}${e.hint ? `\nWhat to do: ${e.hint}` : ''}`;
  return { isError: true, content: [{ type: 'text', text }] };
}

/**
 * Builds an MCP server exposing exactly the tools the caller's role may call. The caller comes from the
 * bearer token; a role or id passed in arguments is never trusted.
 */
export function buildMcpServer(caller: Caller, orchestrator: Orchestrator): McpServer {
  const server = new McpServer(
    { name: 'tmux-claude', version: '0.1.0' },
    {
      instructions: `You are ${caller.id} (${caller.role}). Use these tools to coordinate with your organisation.`,
    },
  );
  const allowed = new Set(TOOLS_BY_ROLE[caller.role]);

  function tool<Shape extends z.ZodRawShape>(
    name: string,
    description: string,
    shape: Shape,
    run: (args: z.infer<z.ZodObject<Shape>>) => Promise<unknown>,
  ): void {
    if (!allowed.has(name)) return;
    server.registerTool(name, { description, inputSchema: shape }, (async (
      args: z.infer<z.ZodObject<Shape>>,
    ) => {
      let value: unknown;
      try {
        value = await run(args);
      } catch (err) {
        await orchestrator
          .recordToolCall(caller, name, false, err instanceof Error ? err.message : String(err))
          .catch(() => undefined);
        return failure(err);
      }
      // The call has taken effect: an audit failure must not tell the agent it failed (it would retry).
      await orchestrator.recordToolCall(caller, name, true).catch(() => undefined);
      return ok(value);
    }) as never);
  }

  const spawnableRoles =
    caller.role === 'executive' ? (['manager', 'specialist'] as const) : (['specialist'] as const);
  tool(
    'spawn',
    'Start a new agent under you and give it its first prompt. Returns once the agent is ready, with its id and ' +
      'git branch. Managers plan and delegate; specialists implement in their own worktree.',
    {
      role: z.enum(spawnableRoles).describe('role of the new agent'),
      name: z
        .string()
        .min(1)
        .max(64)
        .describe('short name of its work, e.g. "auth-api"; used in its branch name'),
      prompt: z
        .string()
        .max(200_000)
        .optional()
        .describe('its first prompt: the task, with everything it needs'),
      agent: z
        .enum(AGENT_KINDS as [string, ...string[]])
        .optional()
        .describe('agent CLI; defaults to the run’s'),
    },
    (a) =>
      orchestrator.spawn(caller, {
        role: a.role,
        name: a.name,
        prompt: a.prompt,
        agent: a.agent as (typeof AGENT_KINDS)[number] | undefined,
      }),
  );
  tool(
    'send',
    caller.role === 'specialist'
      ? 'Send a message to your parent (to: "parent"). Returns once it has landed in their turn.'
      : 'Send a message to an agent in your subtree or to your parent ("parent"). Returns once it has landed in ' +
          'the recipient’s turn (delivered: true), or delivered: false if it is still queued at the timeout.',
    {
      to: z.string().min(1).describe('instance id, or "parent"'),
      text: z.string().min(1).max(1_000_000).describe('the message'),
      timeout_s: z
        .number()
        .positive()
        .max(600)
        .optional()
        .describe('how long to wait for delivery (default 30)'),
    },
    (a) =>
      orchestrator.send(caller, a.to, a.text, a.timeout_s === undefined ? undefined : a.timeout_s * 1000),
  );
  tool(
    'read',
    'Read an agent’s terminal output. Pass the returned cursor as `since` next time to get only new lines.',
    { id: z.string().min(1), since: z.number().int().min(0).optional() },
    (a) => orchestrator.read(caller, a.id, a.since),
  );
  // An object, not a bare array: Gemini CLI reads JSON text results as structured content, which must be an object.
  tool('list', 'List the agents in your subtree with their state and branch.', {}, async () => ({
    instances: await orchestrator.list(caller),
  }));
  tool(
    'terminate',
    'Stop an agent in your subtree. Its worktree is kept if its branch has unmerged commits. With cascade, its ' +
      'descendants are stopped too (required when it has live children).',
    { id: z.string().min(1), cascade: z.boolean().optional() },
    (a) => orchestrator.terminate(caller, a.id, a.cascade ?? false),
  );
  tool('restart', 'Restart an agent in your subtree in place.', { id: z.string().min(1) }, (a) =>
    orchestrator.restart(caller, a.id),
  );
  tool(
    'get_progress',
    'State of an agent and its subtree (default: yours), rolled up.',
    { id: z.string().min(1).optional() },
    (a) => orchestrator.getProgress(caller, a.id),
  );
  tool(
    'merge_branch',
    'Merge the branch of an agent in your subtree (instance_id) or a named branch into your branch (or `into`). ' +
      'Pre-checked with git merge-tree: a conflict is refused and nothing changes.',
    {
      instance_id: z.string().min(1).optional(),
      branch: z.string().min(1).optional(),
      into: z.string().min(1).optional(),
    },
    (a) => orchestrator.mergeBranch(caller, { instanceId: a.instance_id, branch: a.branch, into: a.into }),
  );
  return server;
}
