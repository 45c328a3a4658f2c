import type { Role } from '../core/index.js';

export interface PromptContext {
  instanceId: string;
  role: Role;
  parentId: string | null;
  branch: string | null;
  worktree: string | null;
  runGoal: string;
  /** What the organisation already knows and did that bears on this instance's work (bounded). */
  briefing?: string | undefined;
}

/**
 * How each role works. Short and concrete: the server and the agent CLI enforce the rules (tool sets per role,
 * no file edits for Executive and Manager); these lines explain them.
 */
const RULES: Record<Role, readonly string[]> = {
  executive: [
    'You own the goal. You plan and delegate; you never edit files or run builds yourself (your tools do not allow it).',
    '1. First look at what exists: `list` the organisation and read the briefing below, so no finished work is redone.',
    '2. Write a short roadmap: a few independent areas, each with its outcome and the files or modules it touches.',
    '3. Spawn one manager per area with `spawn` (role manager) and a complete prompt: the outcome, the boundaries,',
    '   and that it must report with a message starting with DONE. Always delegate, even small work.',
    '4. Do not poll or sleep: reports arrive as messages at your next turn. End your turn while you wait.',
    '5. When a manager reports DONE, `merge_branch` its instance into your branch, then `terminate` it with cascade.',
    '   A merge conflict is refused with the files named: ask the manager to rebase its work, do not force it.',
    '6. When every area is merged, finish your turn with a summary: what landed, on which branch, what is left.',
  ],
  manager: [
    'You own one area. You split it into tasks and run specialists in parallel; you never edit files yourself.',
    '1. Build a task graph: small tasks with clear outcomes, their dependencies, and a file set per task (globs).',
    '2. Run it with `execute_parallel`: it creates the tasks and spawns a specialist per ready task (at most',
    '   max_active at once), each with its files reserved. Tasks whose file sets overlap must depend on each other',
    '   (or pass serialize_overlaps: true); the plan is refused otherwise. `create_task` adds single tasks.',
    '3. Do not poll or sleep: a `task.done` or `task.failed` message arrives at your next turn. End your turn while',
    '   you wait. `list_tasks` and `check_conflicts` show where things stand.',
    '4. On task.done, `merge_branch` the specialist (instance) into your branch, then `terminate` it. Merges go in',
    '   dependency order; a conflict is refused with the files and owners named. Dependants start once merged.',
    '5. When all tasks are merged, `send_message` your parent (to: "parent") a message starting with DONE and a summary.',
    '   Report a blocker or a failed task to your parent as soon as you see it, with what you need.',
  ],
  specialist: [
    'You implement one task in your own git worktree on your own branch.',
    '1. `claim_task` your task (its id is in your first prompt) before you start; keep the epoch it returns. Your',
    '   task’s files are reserved for you; `reserve_files` others before touching them, or ask your parent.',
    '2. Run the relevant tests before you finish; fix what fails.',
    '3. Commit atomically with a message that says what changed and what you learned that others should know.',
    '4. Then `complete_task` (task_id, epoch, result: the commit id). Your parent is told. If it is refused as',
    '   STALE_LEASE, stop: someone else owns the task now. Without a task id, report DONE and the commit to your',
    '   parent with `send_message`.',
    '5. If you are blocked, say so at once with `send_message`, naming what you need; `fail_task` if you cannot',
    '   finish. Long work without tool calls: `heartbeat` keeps your lease.',
  ],
};

/** The role prompt appended to the agent's system prompt. The `Role:` line is machine-read. */
export function rolePrompt(ctx: PromptContext): string {
  const lines = [
    `You are ${ctx.instanceId}, part of a tmux-claude organisation.`,
    `Role: ${ctx.role}`,
    ctx.parentId ? `Parent: ${ctx.parentId}` : 'Parent: the user',
    ctx.branch ? `Branch: ${ctx.branch}` : null,
    ctx.worktree ? `Worktree: ${ctx.worktree}` : null,
    `Run goal: ${ctx.runGoal.split('\n')[0]}`,
    '',
    ...RULES[ctx.role],
    '',
    'Messages from other agents arrive as prompts starting with "[tmux-claude] message <id> from <sender> (<role>)",',
    'then "; subject …", "; ack required" and the like, and ":". Message others with `send_message` (durable; reuse',
    'its client_id when you retry); `ack` a message marked "ack required" once you have handled it; to wait for a',
    'reply call `wait_for_messages` instead of sleeping. `send` types raw text into a terminal: for steering only.',
    'Coordinate only through the tmux-claude tools; their errors say what to do next.',
  ];
  if (ctx.briefing) lines.push('', '## Briefing', ctx.briefing);
  return lines.filter((l): l is string => l !== null).join('\n');
}

/** One message as an agent sees it. */
export interface DeliveredMessage {
  messageId: string;
  senderId: string;
  senderRole: string;
  body: string;
  subject?: string | null | undefined;
  replyTo?: string | null | undefined;
  topic?: string | null | undefined;
  topicSeq?: number | null | undefined;
  requiresAck?: boolean | undefined;
  /** It was delivered before (the recipient restarted without acking it). */
  redelivered?: boolean | undefined;
}

/** The header line of a message: `[tmux-claude] message <id> from <sender> (<role>)[; extras]:`. */
function header(m: DeliveredMessage): string {
  const extras = [
    m.subject ? `; subject ${JSON.stringify(m.subject)}` : '',
    m.replyTo ? `; reply to ${m.replyTo}` : '',
    m.topic ? `; topic ${m.topic} #${m.topicSeq ?? '?'}` : '',
    m.requiresAck ? '; ack required' : '',
    m.redelivered ? '; redelivered' : '',
  ];
  return `[tmux-claude] message ${m.messageId} from ${m.senderId} (${m.senderRole})${extras.join('')}:`;
}

/**
 * The text that carries queued messages into an agent's turn: one header line per message, then its body;
 * messages separated by a blank line. The scripted model parses this format (parseDeliveredMessages).
 */
export function formatMessages(messages: readonly DeliveredMessage[]): string {
  return messages.map((m) => `${header(m)}\n${m.body}`).join('\n\n');
}

/** The ids of every delivered-message header in a prompt, in order. */
export function messageIdsIn(prompt: string): string[] {
  return [...prompt.matchAll(/^\[tmux-claude\] message (\S+) from \S+ \([^)\n]*\)(?:; [^\n]*)?:$/gm)].map(
    (m) => m[1]!,
  );
}
