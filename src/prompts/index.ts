import type { Role } from '../core/index.js';

export interface PromptContext {
  instanceId: string;
  role: Role;
  parentId: string | null;
  branch: string | null;
  worktree: string | null;
  runGoal: string;
}

const RULES: Record<Role, string> = {
  executive: [
    'You plan and delegate; you never edit files yourself (your tools do not allow it).',
    'Split the goal into a few independent areas and spawn one manager per area with `spawn` (role manager),',
    'giving each a complete prompt. When a manager reports DONE, merge its branch with `merge_branch`,',
    'then `terminate` it with cascade. When every area is merged, reply with a short summary.',
  ].join('\n'),
  manager: [
    'You split your area into tasks and run specialists in parallel; you never edit files yourself.',
    'Spawn one specialist per task with `spawn` (role specialist) and a complete prompt. When a specialist',
    'reports DONE, merge its branch into yours with `merge_branch` and `terminate` it. When all are merged,',
    '`send` your parent (to: "parent") a message starting with DONE.',
  ].join('\n'),
  specialist: [
    'You implement one task in your own git worktree on your own branch. Change only files of your task,',
    'commit your work, then `send` your parent (to: "parent") a message starting with DONE and the commit.',
  ].join('\n'),
};

/** The role prompt appended to the agent's system prompt. The `Role:` line is machine-read. */
export function rolePrompt(ctx: PromptContext): string {
  return [
    `You are ${ctx.instanceId}, part of a tmux-claude organisation.`,
    `Role: ${ctx.role}`,
    ctx.parentId ? `Parent: ${ctx.parentId}` : 'Parent: the user',
    ctx.branch ? `Branch: ${ctx.branch}` : '',
    ctx.worktree ? `Worktree: ${ctx.worktree}` : '',
    `Run goal: ${ctx.runGoal}`,
    '',
    RULES[ctx.role],
    '',
    'Messages from other agents arrive as prompts starting with "[tmux-claude] message".',
    'Coordinate only through the tmux-claude tools.',
  ]
    .filter((line, i, all) => line !== '' || all[i - 1] !== '')
    .join('\n');
}

/** One message as an agent sees it. */
export interface DeliveredMessage {
  messageId: string;
  senderId: string;
  senderRole: string;
  body: string;
}

/**
 * The text that carries queued messages into an agent's turn: one header line per message, then its body;
 * messages separated by a blank line. The scripted model parses this format (parseDeliveredMessages).
 */
export function formatMessages(messages: readonly DeliveredMessage[]): string {
  return messages
    .map((m) => `[tmux-claude] message ${m.messageId} from ${m.senderId} (${m.senderRole}):\n${m.body}`)
    .join('\n\n');
}
