import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import {
  AGENT_KINDS,
  TASK_STATES,
  TmuxClaudeError,
  type Delivery,
  type Knowledge,
  type Message,
  type Reservation,
  type Role,
  type Task,
} from '../core/index.js';
import type { Caller, KnowledgeAnswer, Orchestrator, SendMessageResult } from './orchestrator.js';

/** Tools each role may call (ARCHITECTURE.md role table; later issues add theirs). */
const MESSAGING = ['send_message', 'inbox', 'ack', 'wait_for_messages', 'publish', 'subscribe', 'replay'];
const KNOWLEDGE = ['record_discovery', 'query_knowledge', 'report_progress'];
const DELEGATION = [
  'spawn',
  'terminate',
  'restart',
  'execute_parallel',
  'merge_branch',
  'send',
  'read',
  'list',
  'get_progress',
  'set_budget',
  'get_budget',
];
/** Tools of the work coordinator every role may call; planners also create tasks. */
const WORK = [
  'list_tasks',
  'check_conflicts',
  'claim_task',
  'heartbeat',
  'complete_task',
  'fail_task',
  'reserve_files',
  'release_files',
];
export const TOOLS_BY_ROLE: Record<Role, readonly string[]> = {
  executive: [...DELEGATION, ...MESSAGING, 'create_task', ...WORK, ...KNOWLEDGE],
  manager: [...DELEGATION, ...MESSAGING, 'create_task', ...WORK, ...KNOWLEDGE],
  specialist: ['send', ...MESSAGING, ...WORK, ...KNOWLEDGE],
};

/** A message as tools return it (snake_case, times as ISO strings). */
export interface MessageView {
  id: string;
  from: string;
  to: string;
  subject: string | null;
  body: string;
  requires_ack: boolean;
  reply_to: string | null;
  topic: string | null;
  topic_seq: number | null;
  sent_at: string;
  /** This recipient's delivery state and push attempts (absent for topic replays). */
  state?: string;
  attempts?: number;
}

export function messageView(m: Message, d?: Delivery): MessageView {
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    subject: m.subject,
    body: m.body,
    requires_ack: m.requiresAck,
    reply_to: m.replyTo,
    topic: m.topic,
    topic_seq: m.topicSeq,
    sent_at: new Date(m.createdAt).toISOString(),
    ...(d ? { state: d.state, attempts: d.attempts } : {}),
  };
}

/** A task as tools return it (snake_case, times as ISO strings). */
export interface TaskView {
  id: string;
  title: string;
  description: string;
  state: string;
  depends_on: string[];
  files: string[];
  priority: number;
  created_by: string;
  assignee: string | null;
  owner: string | null;
  epoch: number;
  attempts: number;
  max_attempts: number;
  lease_expires_at: string | null;
  result: string | null;
  error: string | null;
  branch: string | null;
  merged: boolean;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function taskView(t: Task, opts: { brief?: boolean } = {}): TaskView {
  return {
    id: t.id,
    title: t.title,
    // Listings stay small: a description can be 100 kB.
    description: opts.brief && t.description.length > 300 ? `${t.description.slice(0, 299)}…` : t.description,
    state: t.state,
    depends_on: t.dependsOn,
    files: t.files,
    priority: t.priority,
    created_by: t.createdBy,
    assignee: t.assignee,
    owner: t.owner,
    epoch: t.epoch,
    attempts: t.attempts,
    max_attempts: t.maxAttempts,
    lease_expires_at: iso(t.leaseExpiresAt),
    result: t.result,
    error: t.error,
    branch: t.branch,
    merged: t.mergedAt !== null,
  };
}

/** A discovery as tools return it. */
export function knowledgeView(
  a: KnowledgeAnswer | { entry: Knowledge; stale?: boolean },
): Record<string, unknown> {
  const e = a.entry;
  return {
    key: e.key,
    value: e.value,
    tags: e.tags,
    paths: e.paths,
    stale: a.stale ?? false,
    version: e.version,
    recorded_by: e.recordedBy,
    task_id: e.taskId,
    commit: e.commit,
    recorded_at: new Date(e.createdAt).toISOString(),
  };
}

function reservationView(r: Reservation): Record<string, unknown> {
  return {
    pattern: r.pattern,
    mode: r.mode,
    holder: r.holder,
    task_id: r.taskId,
    expires_at: iso(r.expiresAt),
  };
}

function sendView(r: SendMessageResult): Record<string, unknown> {
  return {
    message_id: r.messageId,
    recipients: r.recipients,
    duplicate: r.duplicate,
    ...(r.topic !== undefined ? { topic: r.topic, seq: r.topicSeq } : {}),
  };
}

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

  // Budget limits as tools take them: all optional, each a positive number (checked again by the supervisor).
  const budgetShape = {
    max_instances: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('live instances below it (itself not counted)'),
    max_depth: z.number().int().positive().optional().describe('levels below it'),
    max_minutes: z.number().positive().optional().describe('wall-clock minutes from now'),
    max_tokens: z.number().int().positive().optional().describe('tokens its subtree may use'),
    max_cost: z.number().positive().optional().describe('USD its subtree may spend (with a price table)'),
  };
  const budgetArg = z
    .object(budgetShape)
    .strict()
    .optional()
    .describe(
      'its budget, carved out of what yours has left (refused if larger): at 80 % of tokens/time it is warned, at ' +
        '100 % its subtree pauses and you decide (set_budget to raise, or terminate)',
    );
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
      budget: budgetArg,
      host: z
        .string()
        .min(1)
        .max(63)
        .optional()
        .describe('host to run it on, when several share the store; default: the least loaded live host'),
    },
    (a) =>
      orchestrator.spawn(caller, {
        role: a.role,
        name: a.name,
        prompt: a.prompt,
        agent: a.agent as (typeof AGENT_KINDS)[number] | undefined,
        ...(a.budget ? { budget: a.budget } : {}),
        ...(a.host ? { host: a.host } : {}),
      }),
  );
  tool(
    'set_budget',
    'Set or raise the budget of an agent below you (limits not given keep their value). A subtree paused ' +
      'because its budget ran out resumes at once when the new limits are above its use. Carved out of what ' +
      'your own budget has left; refused if larger.',
    { id: z.string().min(1), ...budgetShape },
    ({ id, ...limits }) => orchestrator.setBudget(caller, id, limits),
  );
  tool(
    'get_budget',
    'The budgets over you and below you: limits, use (live instances, depth, minutes, tokens, cost) and state ' +
      '(active, or paused until raised).',
    {},
    async () => ({ budgets: await orchestrator.budgetsOf(caller) }),
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
  const topicArg = z.string().min(1).describe('topic name: lower-case letters, digits, ".", "_", "-"');
  tool(
    'send_message',
    'Send a durable message. `to`: an instance id, "parent", "children", a role below you ("managers", ' +
      '"specialists"), or "topic:NAME". Stored before this returns; delivered at the recipient’s next turn (or ' +
      'fetched with inbox/wait_for_messages). Pass a client_id to make retries safe: the same client_id never ' +
      'sends twice. Bodies are limited to 64 KiB. Prefer this to `send` between agents.',
    {
      to: z.string().min(1),
      body: z.string().describe('the message (at most 64 KiB)'),
      subject: z.string().optional().describe('one line, at most 200 characters'),
      requires_ack: z
        .boolean()
        .optional()
        .describe('ask the recipient to `ack`; until then it is redelivered if the recipient restarts'),
      reply_to: z.string().min(1).optional().describe('id of the message this answers'),
      client_id: z.string().min(1).max(200).optional().describe('your idempotency key for this message'),
    },
    async (a) =>
      sendView(
        await orchestrator.sendMessage(caller, {
          to: a.to,
          body: a.body,
          subject: a.subject,
          requiresAck: a.requires_ack,
          replyTo: a.reply_to,
          clientId: a.client_id,
        }),
      ),
  );
  tool(
    'inbox',
    'Your messages, oldest first. Unread ones returned here count as delivered. Ack the ones that ask for it.',
    {
      unread_only: z.boolean().optional().describe('default true; false also lists the newest read ones'),
      limit: z.number().int().min(1).max(500).optional().describe('default 50'),
    },
    async (a) => {
      const r = await orchestrator.inbox(caller, { unreadOnly: a.unread_only ?? true, limit: a.limit ?? 50 });
      return { messages: r.messages.map((e) => messageView(e.message, e.delivery)), more: r.more };
    },
  );
  tool(
    'ack',
    'Acknowledge messages you have handled (ids from your inbox). Acking twice is harmless.',
    { ids: z.array(z.string().min(1)).min(1).max(1000) },
    async (a) => {
      const r = await orchestrator.ack(caller, a.ids);
      return { acked: r.acked, already_acked: r.alreadyAcked };
    },
  );
  tool(
    'wait_for_messages',
    'Block until an unread message (optionally from a sender / with a subject) arrives, or the timeout. Use this ' +
      'instead of sleeping and polling. Returns the matching unread messages.',
    {
      timeout_s: z.number().min(0).max(300).describe('at most 300'),
      from: z.string().min(1).optional().describe('sender instance id, or "parent"'),
      subject: z.string().optional(),
    },
    async (a) => {
      const r = await orchestrator.waitForMessages(caller, {
        timeoutMs: a.timeout_s * 1000,
        from: a.from,
        subject: a.subject,
      });
      return { messages: r.messages.map((e) => messageView(e.message, e.delivery)), timed_out: r.timedOut };
    },
  );
  tool(
    'publish',
    'Append a message to a topic (an append-only log with sequence numbers); its subscribers receive it.',
    { topic: topicArg, body: z.string(), subject: z.string().optional() },
    async (a) => sendView(await orchestrator.publish(caller, a.topic, a.body, a.subject)),
  );
  tool(
    'subscribe',
    'Receive a topic’s future messages in your inbox. Built-in topics: system.spawned, system.completed, ' +
      'system.failed, system.merged. Returns head_seq: replay from 0 to read what came before.',
    { topic: topicArg },
    async (a) => {
      const r = await orchestrator.subscribe(caller, a.topic);
      return { topic: r.topic, head_seq: r.headSeq };
    },
  );
  tool(
    'replay',
    'Read a topic’s messages after since_seq (what you missed), oldest first.',
    {
      topic: topicArg,
      since_seq: z.number().int().min(0).optional().describe('default 0: from the start'),
      limit: z.number().int().min(1).max(500).optional().describe('default 100'),
    },
    async (a) => {
      const r = await orchestrator.replay(caller, a.topic, a.since_seq ?? 0, a.limit ?? 100);
      return { topic: r.topic, head_seq: r.headSeq, messages: r.messages.map((m) => messageView(m)) };
    },
  );
  const filesArg = z
    .array(z.string().min(1).max(1000))
    .max(200)
    .describe('repo-relative globs, e.g. ["src/auth/**", "README.md"]');
  const taskShape = {
    title: z.string().min(1).max(200).describe('one line'),
    description: z.string().max(100_000).optional().describe('everything the implementer needs'),
    depends_on: z.array(z.string().min(1)).max(1000).optional().describe('task ids that must be done first'),
    files: filesArg.optional(),
    priority: z.number().int().min(-1000).max(1000).optional().describe('higher first (default 0)'),
  };
  tool(
    'create_task',
    'Add a task to your run’s task graph. It is ready once every depends_on task is done; specialists take it ' +
      'with claim_task. Refused if a dependency is unknown or its files leave the repo.',
    taskShape,
    async (a) => ({
      task: taskView(
        await orchestrator.createTask(caller, {
          title: a.title,
          description: a.description,
          dependsOn: a.depends_on,
          files: a.files,
          priority: a.priority,
        }),
      ),
    }),
  );
  tool(
    'execute_parallel',
    'Run a set of tasks with specialists in parallel: creates the tasks, then spawns one specialist per task ' +
      '(at most max_active at once, default 4) as dependencies are done and merged. Tasks whose file sets overlap ' +
      'must be ordered by depends_on (or pass serialize_overlaps: true); otherwise the plan is refused. Returns ' +
      'at once; you receive a `task.done` message per finished task (merge_branch it, then terminate the ' +
      'specialist) or `task.failed`.',
    {
      tasks: z
        .array(
          z.object({
            name: z.string().min(1).max(64).describe('unique in this call; used in the specialist’s branch'),
            ...taskShape,
            title: z.string().min(1).max(200).optional().describe('one line (default: name)'),
            depends_on: z
              .array(z.string().min(1))
              .max(1000)
              .optional()
              .describe('names of other entries, or existing task ids'),
          }),
        )
        .min(1)
        .max(500),
      max_active: z.number().int().min(1).max(64).optional(),
      serialize_overlaps: z
        .boolean()
        .optional()
        .describe(
          'run tasks with overlapping files one after the other (in the order given) instead of refusing',
        ),
    },
    async (a) => {
      const r = await orchestrator.executeParallel(caller, {
        tasks: a.tasks.map((t) => ({
          name: t.name,
          title: t.title ?? t.name,
          description: t.description,
          dependsOn: t.depends_on,
          files: t.files,
          priority: t.priority,
        })),
        maxActive: a.max_active,
        serializeOverlaps: a.serialize_overlaps,
      });
      return {
        tasks: r.tasks.map((t) => ({
          name: t.name,
          task_id: t.taskId,
          state: t.state,
          depends_on: t.dependsOn,
        })),
        max_active: r.maxActive,
        added_dependencies: r.addedDependencies,
        ...(r.budgetAllows !== undefined
          ? {
              budget_allows: r.budgetAllows,
              note: `your budget allows at most ${r.budgetAllows} specialist(s) at once; the rest wait`,
            }
          : {}),
      };
    },
  );
  tool(
    'list_tasks',
    'Tasks of your run with state, owner, epoch and attempts (descriptions shortened).',
    {
      state: z.array(z.enum(TASK_STATES as [string, ...string[]])).optional(),
      owner: z.string().min(1).optional().describe('instance id, or "me"'),
      limit: z.number().int().min(1).max(1000).optional().describe('default 200'),
    },
    async (a) => {
      const r = await orchestrator.listTasks(caller, {
        states: a.state as Task['state'][] | undefined,
        owner: a.owner === 'me' ? caller.id : a.owner,
        limit: a.limit ?? 200,
      });
      return { tasks: r.tasks.map((t) => taskView(t, { brief: true })), more: r.more };
    },
  );
  tool(
    'claim_task',
    'Take a task: a lease with a fencing epoch (pass it to complete_task) that lapses unless renewed ' +
      '(heartbeat; your tool calls also renew it). Without task_id: the best ready task you may take. Its files ' +
      'are reserved for you. With wait_s, waits for a task to become claimable.',
    {
      task_id: z.string().min(1).optional(),
      wait_s: z.number().min(0).max(300).optional().describe('without task_id: wait up to this long'),
    },
    async (a) => {
      const r = await orchestrator.claimTask(caller, {
        taskId: a.task_id,
        waitMs: a.wait_s === undefined ? undefined : a.wait_s * 1000,
      });
      if (r.task === null) return { task: null, reason: r.reason };
      return {
        task: taskView(r.task),
        epoch: r.task.epoch,
        lease_expires_at: iso(r.task.leaseExpiresAt),
        reservations: r.reservations.map(reservationView),
      };
    },
  );
  tool('heartbeat', 'Renew all your task leases and file reservations.', {}, async () => {
    const r = await orchestrator.heartbeat(caller);
    return { tasks: r.tasks.map((t) => t.id), reservations: r.reservations, expires_at: iso(r.expiresAt) };
  });
  tool(
    'complete_task',
    'Finish a task you hold, under the epoch claim_task gave you. Refused (STALE_LEASE) if your lease lapsed or ' +
      'someone else holds it now: then stop working on it.',
    {
      task_id: z.string().min(1),
      epoch: z.number().int().min(1),
      result: z.string().max(10_000).optional().describe('short outcome, e.g. the commit id'),
    },
    async (a) => {
      const r = await orchestrator.completeTask(caller, a.task_id, a.epoch, a.result ?? null);
      return { task: taskView(r.task), unblocked: r.unblocked.map((t) => t.id) };
    },
  );
  tool(
    'fail_task',
    'Give up a task you hold. With retry (default true) it goes back to ready for someone else while attempts ' +
      'are left; otherwise it fails and your parent is told.',
    {
      task_id: z.string().min(1),
      epoch: z.number().int().min(1),
      error: z.string().min(1).max(10_000),
      retry: z.boolean().optional(),
    },
    async (a) => ({
      task: taskView(await orchestrator.failTask(caller, a.task_id, a.epoch, a.error, a.retry ?? true)),
    }),
  );
  tool(
    'reserve_files',
    'Reserve files before editing them (globs relative to the repo). Exclusive (default): nobody else may hold ' +
      'an overlapping pattern; shared: others may share it. Refused with the holders named on an overlap. ' +
      'Reservations lapse after ttl_s unless renewed, and go when you finish.',
    {
      patterns: filesArg.min(1),
      mode: z.enum(['exclusive', 'shared']).optional(),
      ttl_s: z.number().min(1).max(86_400).optional().describe('default: the lease TTL'),
    },
    async (a) => ({
      reservations: (
        await orchestrator.reserveFiles(
          caller,
          a.patterns,
          a.mode ?? 'exclusive',
          a.ttl_s === undefined ? undefined : a.ttl_s * 1000,
        )
      ).map(reservationView),
    }),
  );
  tool(
    'release_files',
    'Release your file reservations (these patterns, or all you reserved with reserve_files).',
    { patterns: filesArg.optional() },
    async (a) => {
      const r = await orchestrator.releaseFiles(caller, a.patterns);
      return { released: r.released.map((x) => x.pattern), not_held: r.notHeld };
    },
  );
  tool(
    'check_conflicts',
    'Where work may collide in your run: overlapping reservations, files changed in two live worktrees at ' +
      'once (from git), and ready tasks waiting for files others hold.',
    {},
    async () => {
      const r = await orchestrator.checkConflicts(caller);
      return {
        reservation_overlaps: r.reservationOverlaps.map((o) => ({
          a: reservationView(o.a),
          b: reservationView(o.b),
        })),
        worktree_overlaps: r.worktreeOverlaps.map((o) => ({
          path: o.path,
          instances: o.instances.map((i) => ({ id: i.id, branch: i.branch, task_id: i.taskId })),
        })),
        tasks_waiting_on_files: r.tasksWaitingOnFiles,
      };
    },
  );
  tool(
    'record_discovery',
    'Record what you learned that others should know (an API shape, a pitfall, a decision), under a key. ' +
      'Recorded with you, your task and the commit your branch is at; paths anchor it to files, so readers see ' +
      'when those files changed since (stale). Recording a key again keeps the older versions as history.',
    {
      key: z.string().min(1).max(200).describe('e.g. "auth.token-format"'),
      value: z.string().describe('what you learned (at most 64 KiB)'),
      tags: z.array(z.string().min(1).max(50)).max(20).optional(),
      paths: z.array(z.string().min(1).max(1000)).max(50).optional().describe('repo-relative files or globs'),
    },
    async (a) => ({
      recorded: knowledgeView({
        entry: await orchestrator.recordDiscovery(caller, {
          key: a.key,
          value: a.value,
          tags: a.tags,
          paths: a.paths,
        }),
      }),
    }),
  );
  tool(
    'query_knowledge',
    'Search what the organisation has learned in this run: full text (words; syntax "fts" for phrases, ' +
      'AND/OR/NOT, prefix*), tags, paths. Best matches first, newer first among equals; each says whether it is ' +
      'stale (its files changed on the run branch since it was recorded).',
    {
      query: z.string().max(2000).optional(),
      syntax: z.enum(['words', 'fts']).optional().describe('default "words": any text is safe'),
      tags: z.array(z.string().min(1).max(50)).max(20).optional().describe('entries with all of these'),
      paths: z.array(z.string().min(1).max(1000)).max(50).optional().describe('entries about these files'),
      limit: z.number().int().min(1).max(100).optional().describe('default 10'),
    },
    async (a) => ({
      results: (
        await orchestrator.queryKnowledge(caller, {
          query: a.query,
          syntax: a.syntax,
          tags: a.tags,
          paths: a.paths,
          limit: a.limit,
        })
      ).map(knowledgeView),
    }),
  );
  tool(
    'report_progress',
    'Tell your parent and the dashboard how far you are: a percentage and/or a one-line note.',
    {
      percent: z.number().min(0).max(100).optional(),
      note: z.string().max(500).optional(),
    },
    async (a) => ({
      progress: await orchestrator.reportProgress(caller, { percent: a.percent, note: a.note }),
    }),
  );
  return server;
}
