import { asRecord, isRecord, parseJsonObject } from '../core/index.js';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  DEMO_PLAN,
  overlappingTasks,
  type ManagerPlan,
  type OrgPlan,
  type SpecialistPlan,
} from './demo-plan.js';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { expandTranscripts } from './compaction.js';
import { chatterConfig, chatterTurn } from './chatter.js';
import {
  extractJsonBlock,
  formatFencedBlock,
  parseDeliveredMessages,
  scriptedKnobs,
  stripClientMarkup,
  workingDirectoryFrom,
  claudeWorkingDirectoryFrom,
  type ScriptedKnobs,
} from './prompt-formats.js';
import {
  blocksOf,
  isTextBlock,
  isToolResultBlock,
  isToolUseBlock,
  toolResultText,
  type ReplyBlock,
  type ScriptedTurn,
  type WireMessage,
} from './wire.js';

/** Options of {@link nextTurn}. */
export interface NextTurnOptions {
  /**
   * Tool names the request offered. When given, a scenario's tool is called by the offered name that ends
   * with `__<tool>` (Claude Code prefixes MCP tools as `mcp__<server>__<tool>`); otherwise by its bare name.
   */
  tools?: readonly string[];
  /**
   * Texts that describe the session without being part of the conversation: the system prompt and Claude
   * Code's `system`-role messages. Read for the working directory (`Worktree:` / `Primary working
   * directory:` lines) and for ```scripted knobs.
   */
  context?: readonly string[];
}

const FileSchema = z.object({
  path: z.string().min(1),
  content: z.string(),
  append: z.boolean().optional(),
});
const SpecialistSchema = z.object({
  name: z.string().min(1),
  files: z.array(FileSchema),
  commit: z.string().min(1),
  depends_on: z.array(z.string().min(1)).optional(),
  priority: z.number().int().optional(),
});
const ManagerPlanSchema = z.object({
  name: z.string().min(1).optional(),
  specialists: z.array(SpecialistSchema),
  max_active: z.number().int().min(1).optional(),
});
const OrgPlanSchema = z.object({
  managers: z.array(
    ManagerPlanSchema.extend({
      name: z.string().min(1),
      budget: z.record(z.string(), z.number()).optional(),
    }),
  ),
});
const TaskSchema = z.object({
  name: z.string().optional(),
  files: z.array(FileSchema),
  commit: z.string().min(1),
  /** Test knob: a specialist on a coordinator task claims it, then gives it up with this error. */
  fail: z.string().min(1).optional(),
});
type Task = z.infer<typeof TaskSchema>;
type TaskFile = Task['files'][number];

interface ToolCall {
  id: string;
  /** Name without an `mcp__<server>__` prefix. */
  name: string;
  input: Record<string, unknown>;
  /** Index of the assistant message that made the call. */
  at: number;
  result?: { text: string; isError: boolean };
}

interface UserText {
  at: number;
  text: string;
}

/** A text block of an assistant message (what the scenario said in an earlier reply). */
type AssistantText = UserText;

/** What the conversation so far says, derived from the history alone. */
interface History {
  calls: ToolCall[];
  userTexts: UserText[];
  assistantTexts: AssistantText[];
  /** Failed tool results carried by the last message. */
  lastErrors: ToolCall[];
  /** Index of the last assistant message (-1 when there is none). */
  lastAssistantAt: number;
}

function bareToolName(name: string): string {
  return name.replace(/^mcp__.+?__/, '');
}

function analyse(messages: readonly WireMessage[]): History {
  const calls: ToolCall[] = [];
  const byId = new Map<string, ToolCall>();
  const userTexts: UserText[] = [];
  const assistantTexts: AssistantText[] = [];
  let lastErrors: ToolCall[] = [];
  let lastAssistantAt = -1;
  messages.forEach((msg, at) => {
    if (msg.role === 'assistant') lastAssistantAt = at;
    const isLast = at === messages.length - 1;
    for (const block of blocksOf(msg)) {
      if (msg.role === 'assistant' && isToolUseBlock(block)) {
        const input =
          block.input !== null && typeof block.input === 'object'
            ? (block.input as Record<string, unknown>)
            : {};
        const call: ToolCall = { id: block.id, name: bareToolName(block.name), input, at };
        calls.push(call);
        byId.set(block.id, call);
      } else if (msg.role === 'user' && isToolResultBlock(block)) {
        const call = byId.get(block.tool_use_id);
        if (!call) continue;
        call.result = { text: toolResultText(block), isError: block.is_error === true };
        if (isLast && call.result.isError) lastErrors = [...lastErrors, call];
      } else if (msg.role === 'user' && isTextBlock(block)) {
        const clean = stripClientMarkup(block.text);
        if (clean !== '') userTexts.push({ at, text: clean });
      } else if (msg.role === 'assistant' && isTextBlock(block)) {
        assistantTexts.push({ at, text: block.text });
      }
    }
  });
  return { calls, userTexts, assistantTexts, lastErrors, lastAssistantAt };
}

function firstJsonBlock(texts: readonly UserText[], tag: string): { at: number; value: unknown } | undefined {
  for (const t of texts) {
    const value = extractJsonBlock(t.text, tag);
    if (value) return { at: t.at, value };
  }
  return undefined;
}

function lastJsonBlock(texts: readonly UserText[], tag: string): { at: number; value: unknown } | undefined {
  return firstJsonBlock([...texts].reverse(), tag);
}

function text(t: string): ReplyBlock {
  return { type: 'text', text: t };
}

function endTurn(t: string): ScriptedTurn {
  return { content: [text(t)], stop_reason: 'end_turn' };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Builds tool_use blocks with ids that are unique within the conversation and deterministic. */
class ToolUses {
  private readonly blocks: ReplyBlock[] = [];
  private readonly seed: string;

  constructor(
    messages: readonly WireMessage[],
    private readonly offered: readonly string[] | undefined,
  ) {
    this.seed = createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 16);
  }

  add(name: string, input: Record<string, unknown>): void {
    const offeredName = this.offered?.find((t) => t === name || t.endsWith(`__${name}`)) ?? name;
    const id = `toolu_${this.seed}${String(this.blocks.length).padStart(2, '0')}`;
    this.blocks.push({ type: 'tool_use', id, name: offeredName, input });
  }

  get count(): number {
    return this.blocks.length;
  }

  turn(lead: string): ScriptedTurn {
    return { content: [text(lead), ...this.blocks], stop_reason: 'tool_use' };
  }
}

function reportErrors(role: string, errors: readonly ToolCall[]): ScriptedTurn {
  const lines = errors.map(
    (c) => `- ${c.name} ${JSON.stringify(c.input)} failed: ${truncate(c.result?.text ?? '', 500)}`,
  );
  return endTurn(`Stopping (${role}): ${plural(errors.length, 'tool call')} failed.\n${lines.join('\n')}`);
}

interface Child {
  id: string;
  name: string;
}

/**
 * The delegation loop shared by Executive and Manager: spawn children from a plan, merge and terminate each
 * child that reports DONE, and finish when every spawned child is merged. With no merge or terminate left to
 * make, `idle` may end the turn first (the executive's RUN FAILED).
 */
function delegate(
  h: History,
  tools: ToolUses,
  opts: {
    childRole: 'manager' | 'specialist';
    spawnAll: () => ScriptedTurn;
    finish: (children: Child[]) => ScriptedTurn;
    idle?: (children: Child[]) => ScriptedTurn | undefined;
  },
): ScriptedTurn {
  const spawns = h.calls.filter((c) => c.name === 'spawn');
  if (spawns.length === 0) return opts.spawnAll();

  const children: Child[] = [];
  for (const s of spawns) {
    if (!s.result || s.result.isError) continue;
    const id = parseJsonObject(s.result.text)?.id;
    if (typeof id === 'string') children.push({ id, name: String(s.input.name ?? id) });
  }
  const childIds = new Set(children.map((c) => c.id));

  // The latest distinct DONE message per sender; a redelivered message id does not restart the merge.
  const latestDone = new Map<string, number>();
  const seenMessageIds = new Set<string>();
  for (const t of h.userTexts) {
    for (const m of parseDeliveredMessages(t.text)) {
      if (!m.body.startsWith('DONE')) continue;
      if (m.senderRole !== opts.childRole && !childIds.has(m.senderId)) continue;
      if (m.messageId && seenMessageIds.has(m.messageId)) continue;
      seenMessageIds.add(m.messageId);
      latestDone.set(m.senderId, t.at);
    }
  }

  const callsFor = (name: string, key: string, sender: string, after: number): ToolCall[] =>
    h.calls.filter((c) => c.name === name && c.input[key] === sender && c.at > after);
  const merged = new Set(
    h.calls.filter((c) => c.name === 'merge_branch' && succeeded(c)).map((c) => String(c.input.instance_id)),
  );

  const merging: string[] = [];
  const terminating: string[] = [];
  for (const [sender, doneAt] of latestDone) {
    if (h.calls.some((c) => c.name === 'terminate' && c.input.id === sender && succeeded(c))) continue;
    const merges = callsFor('merge_branch', 'instance_id', sender, doneAt);
    const lastMerge = merges.at(-1);
    if (!lastMerge) {
      tools.add('merge_branch', { instance_id: sender });
      merging.push(sender);
    } else if (succeeded(lastMerge) && callsFor('terminate', 'id', sender, lastMerge.at).length === 0) {
      tools.add('terminate', opts.childRole === 'manager' ? { id: sender, cascade: true } : { id: sender });
      terminating.push(sender);
    }
  }
  if (tools.count > 0) {
    const parts = [
      merging.length ? `Merging ${merging.join(', ')}.` : '',
      terminating.length ? `Terminating ${terminating.join(', ')}.` : '',
    ];
    return tools.turn(parts.filter(Boolean).join(' '));
  }

  if (children.length === 0) return endTurn(`No ${opts.childRole}s are running; nothing to wait for.`);
  const idle = opts.idle?.(children);
  if (idle) return idle;
  const waiting = children.filter((c) => !merged.has(c.id));
  if (waiting.length === 0) return opts.finish(children);
  return endTurn(
    `Waiting for ${plural(waiting.length, opts.childRole)} (${waiting.map((c) => `${c.name} ${c.id}`).join(', ')}) to report DONE.`,
  );
}

function managerPrompt(m: ManagerPlan): string {
  const n = m.specialists.length;
  return (
    `You are the manager "${m.name}". Run one task per entry of the plan below with execute_parallel (one ` +
    `specialist each). On each task.done message, merge the specialist's branch with merge_branch and ` +
    `terminate it. When all ${n} are merged, call query_knowledge once and send "DONE manager ${m.name}: ` +
    `merged ${plural(n, 'task')}; knowledge: <k> entries visible" to your parent; report a failed task or a ` +
    `merge conflict to your parent with "FAILED manager ${m.name}: …".\n\n` +
    formatFencedBlock(
      'plan',
      JSON.stringify({
        name: m.name,
        specialists: m.specialists,
        ...(m.max_active === undefined ? {} : { max_active: m.max_active }),
      }),
    )
  );
}

/**
 * The prompt of one specialist: a spawn prompt (it reports `DONE <sha>` to its parent), or the description of
 * a coordinator task (the supervisor puts `Task id:` and the reserved files in front; the specialist claims
 * and completes the task instead of reporting).
 */
function specialistPrompt(s: SpecialistPlan, via: 'spawn' | 'coordinator'): string {
  const steps =
    via === 'spawn'
      ? 'Write the files of the task below, commit them with the given message, then send "DONE <commit sha>" ' +
        'to your parent.'
      : 'Claim your task with claim_task, write the files of the task below (an "append" file gets the content ' +
        'added to its end), commit them with the given message (report_progress at 50% as you commit), record ' +
        'a summary of the commit with record_discovery, then complete_task with the commit sha.';
  return (
    `You are the specialist "${s.name}". ${steps}\n\n` +
    formatFencedBlock('task', JSON.stringify({ name: s.name, files: s.files, commit: s.commit }))
  );
}

function executive(h: History, tools: ToolUses): ScriptedTurn {
  // The goal arrives as a delivered message: its body, not the header line, is the goal.
  const first = h.userTexts[0]?.text ?? '';
  const goal = parseDeliveredMessages(first)[0]?.body ?? first;
  const block = firstJsonBlock(h.userTexts, 'plan');
  let plan: OrgPlan = DEMO_PLAN;
  if (block) {
    const parsed = OrgPlanSchema.safeParse(block.value);
    if (!parsed.success) {
      return endTurn(
        `Scripted model (executive): the plan block is not {"managers":[{"name","specialists":[…]}]}: ` +
          truncate(parsed.error.message, 500),
      );
    }
    plan = parsed.data;
  }
  const goalLine = truncate(goal.split('\n')[0] ?? '', 200);
  return delegate(h, tools, {
    childRole: 'manager',
    idle: (children) => runFailed(h, children),
    spawnAll: () => {
      if (plan.managers.length === 0) return endTurn('The plan has no managers; nothing to do.');
      for (const m of plan.managers) {
        tools.add('spawn', {
          role: 'manager',
          name: m.name,
          prompt: managerPrompt(m),
          ...(m.budget ? { budget: m.budget } : {}),
        });
      }
      const names = plan.managers.map((m) => m.name).join(', ');
      return tools.turn(
        `Plan${block ? '' : ' (demo)'}: ${plural(plan.managers.length, 'manager')} (${names}). Spawning them now.`,
      );
    },
    finish: (children) => {
      const knowledge = knowledgeStep(h, tools, 'All managers merged; checking shared knowledge.');
      if (typeof knowledge !== 'string') return knowledge;
      return endTurn(
        `ALL DONE: merged ${plural(children.length, 'manager')} (${children.map((c) => `${c.name} ${c.id}`).join(', ')})` +
          ` for goal "${goalLine}"; knowledge: ${knowledge}.`,
      );
    },
  });
}

/**
 * The executive's answer to a `FAILED manager …` report from one of its managers: the turn ends with
 * `RUN FAILED: <report>`, once per report (an earlier reply that said it counts, so a redelivery or a later
 * prompt does not repeat it; later turns wait for the other managers as before). Pending merges and
 * terminations of managers that reported DONE are made first. The earliest report not yet answered wins.
 */
function runFailed(h: History, children: readonly Child[]): ScriptedTurn | undefined {
  const childIds = new Set(children.map((c) => c.id));
  for (const t of h.userTexts) {
    for (const m of parseDeliveredMessages(t.text)) {
      if (!m.body.startsWith('FAILED manager')) continue;
      if (m.senderRole !== 'manager' && !childIds.has(m.senderId)) continue;
      const said = `RUN FAILED: ${m.body.trim()}`;
      if (!h.assistantTexts.some((a) => a.text.trim() === said)) return endTurn(said);
    }
  }
  return undefined;
}

/**
 * One `query_knowledge {limit: 100}` call (never repeated, even when it failed), then what it found:
 * `<k> entries visible` (k = the number of results) or `query failed`; else the turn that makes the call.
 */
function knowledgeStep(h: History, tools: ToolUses, lead: string): ScriptedTurn | string {
  const query = h.calls.find((c) => c.name === 'query_knowledge');
  if (!query) {
    tools.add('query_knowledge', { limit: 100 });
    return tools.turn(lead);
  }
  const results = succeeded(query) ? parseJsonObject(query.result?.text ?? '')?.results : undefined;
  return Array.isArray(results) ? `${results.length} entries visible` : 'query failed';
}

type ParsedManagerPlan = z.infer<typeof ManagerPlanSchema>;

function manager(h: History, tools: ToolUses, env: Env): ScriptedTurn {
  const block = firstJsonBlock(h.userTexts, 'plan');
  if (!block) {
    return endTurn(
      'Scripted model (manager): no ```plan block with {"specialists":[…]} in the conversation; nothing to do.',
    );
  }
  const parsed = ManagerPlanSchema.safeParse(block.value);
  if (!parsed.success) {
    return endTurn(
      `Scripted model (manager): the plan block is not {"specialists":[{"name","files","commit"}]}: ` +
        truncate(parsed.error.message, 500),
    );
  }
  const plan = parsed.data;
  const name = plan.name ?? 'manager';
  if (plan.specialists.length === 0) return endTurn('The plan has no specialists; nothing to do.');
  // A supervisor without the work coordinator offers spawn but not execute_parallel: spawn directly.
  if (spawnsDirectly(env)) return spawningManager(h, tools, plan, name);
  return coordinatingManager(h, tools, plan, name);
}

/** The manager without the work coordinator: spawns one specialist per plan entry and merges each DONE. */
function spawningManager(h: History, tools: ToolUses, plan: ParsedManagerPlan, name: string): ScriptedTurn {
  return delegate(h, tools, {
    childRole: 'specialist',
    spawnAll: () => {
      for (const s of plan.specialists) {
        tools.add('spawn', { role: 'specialist', name: s.name, prompt: specialistPrompt(s, 'spawn') });
      }
      return tools.turn(
        `Manager ${name}: spawning ${plural(plan.specialists.length, 'specialist')} (${plan.specialists.map((s) => s.name).join(', ')}).`,
      );
    },
    finish: (children) =>
      reportToParent(h, tools, `DONE manager ${name}: merged ${plural(children.length, 'specialist')}`),
  });
}

/**
 * Sends `report` to the parent with `send` (the executive reads it as a delivered message) unless a report
 * with the same first word (DONE / FAILED) went out already; then the turn ends quoting it.
 */
function reportToParent(h: History, tools: ToolUses, report: string): ScriptedTurn {
  const kind = `${report.split(' ')[0] ?? ''} manager`;
  const sends = h.calls.filter(
    (c) => c.name === 'send' && typeof c.input.text === 'string' && c.input.text.startsWith(kind),
  );
  const sent = standing(h, sends);
  if (sent && succeeded(sent)) return endTurn(`Reported to parent: ${String(sent.input.text)}.`);
  if (sent)
    return endTurn(
      `Stopping (manager): the report to my parent failed: ${truncate(sent.result?.text ?? '', 300)}`,
    );
  tools.add('send', { to: 'parent', text: report });
  return tools.turn(
    kind.startsWith('DONE')
      ? 'All tasks merged; reporting to my parent.'
      : 'Reporting the failure to my parent.',
  );
}

/** The execute_parallel input for a manager plan: one task per specialist entry. */
function executeParallelInput(plan: ParsedManagerPlan): Record<string, unknown> {
  return {
    tasks: plan.specialists.map((s) => ({
      name: s.name,
      // A title is one line of at most 200 characters.
      title: truncate((s.commit.split('\n')[0] ?? '').trim() || s.name, 200),
      description: specialistPrompt(s, 'coordinator'),
      files: [...new Set(s.files.map((f) => f.path))],
      ...(s.depends_on?.length ? { depends_on: s.depends_on } : {}),
      ...(s.priority === undefined ? {} : { priority: s.priority }),
    })),
    ...(plan.max_active === undefined ? {} : { max_active: plan.max_active }),
    // The coordinator refuses tasks that share files and could run at once unless asked to chain them.
    ...(overlappingTasks(plan).length > 0 ? { serialize_overlaps: true } : {}),
  };
}

/** Task name by task id from an execute_parallel result, or what is wrong with the result. */
function taskIdsOf(resultText: string, plan: ParsedManagerPlan): Map<string, string> | string {
  const tasks = parseJsonObject(resultText)?.tasks;
  const ids = new Map<string, string>();
  for (const t of Array.isArray(tasks) ? (tasks as unknown[]) : []) {
    if (isRecord(t) && typeof t.task_id === 'string' && typeof t.name === 'string')
      ids.set(t.task_id, t.name);
  }
  const named = new Set(ids.values());
  const missing = plan.specialists.filter((s) => !named.has(s.name)).map((s) => s.name);
  if (missing.length === 0) return ids;
  return `execute_parallel returned no task id for ${missing.join(', ')}: ${truncate(resultText, 300)}`;
}

/** What the supervisor tells a task's creator: a message with subject `task.done` or `task.failed`. */
interface TaskNotice {
  kind: 'task.done' | 'task.failed';
  taskId: string;
  /** The specialist that held the task ('' when none did). */
  instance: string;
  error: string;
  /** task.failed: `ready` (it will be retried) or `failed` (given up). */
  state: string;
  /** Index of the message that carried it. */
  at: number;
}

/**
 * The task notices about the given tasks, in delivery order; a message delivered again (same message id)
 * counts once. The body is JSON: {task_id, instance, …, error, state}; other bodies are ignored.
 */
function taskNotices(h: History, taskIds: ReadonlyMap<string, string>): TaskNotice[] {
  const seen = new Set<string>();
  const notices: TaskNotice[] = [];
  for (const t of h.userTexts) {
    for (const m of parseDeliveredMessages(t.text)) {
      if (m.subject !== 'task.done' && m.subject !== 'task.failed') continue;
      if (m.messageId && seen.has(m.messageId)) continue;
      seen.add(m.messageId);
      const body = parseJsonObject(m.body);
      const field = (key: string): string => (typeof body?.[key] === 'string' ? body[key] : '');
      if (!taskIds.has(field('task_id'))) continue;
      notices.push({
        kind: m.subject,
        taskId: field('task_id'),
        instance: field('instance'),
        error: field('error'),
        state: field('state'),
        at: t.at,
      });
    }
  }
  return notices;
}

function isMergeConflict(c: ToolCall): boolean {
  return c.result?.isError === true && /\bMERGE_CONFLICT\b/.test(c.result.text);
}

/** An error text on one line, for a report that is typed into a terminal. */
function oneLine(s: string): string {
  return truncate(s.replace(/\s*\n\s*/g, ' ').trim(), 300);
}

/**
 * The manager with the work coordinator: one execute_parallel call for the whole plan, then for each task's
 * first task.done notice merge_branch and terminate its specialist; DONE to the parent once every task is
 * merged. A task given up (task.failed with state failed) or a merge conflict is reported to the parent as
 * FAILED, and the manager stops there; a task.failed with state ready is being retried, so it waits.
 */
function coordinatingManager(
  h: History,
  tools: ToolUses,
  plan: ParsedManagerPlan,
  name: string,
): ScriptedTurn {
  const run = standing(
    h,
    h.calls.filter((c) => c.name === 'execute_parallel'),
  );
  if (!run) {
    tools.add('execute_parallel', executeParallelInput(plan));
    return tools.turn(
      `Manager ${name}: running ${plural(plan.specialists.length, 'task')} in parallel (${plan.specialists.map((s) => s.name).join(', ')}).`,
    );
  }
  if (!succeeded(run)) {
    return endTurn(`Stopping (manager): execute_parallel failed: ${truncate(run.result?.text ?? '', 500)}`);
  }
  const taskIds = taskIdsOf(run.result?.text ?? '', plan);
  if (typeof taskIds === 'string') return endTurn(`Stopping (manager): ${taskIds}`);

  const done = new Map<string, TaskNotice>();
  const failures: { at: number; report: string }[] = [];
  for (const n of taskNotices(h, taskIds)) {
    const task = taskIds.get(n.taskId) ?? n.taskId;
    if (n.kind === 'task.done' && n.instance !== '' && !done.has(n.taskId)) done.set(n.taskId, n);
    if (n.kind === 'task.failed' && n.state === 'failed' && !done.has(n.taskId)) {
      failures.push({ at: n.at, report: `task ${task} failed: ${oneLine(n.error)}` });
    }
  }
  const taskOf = new Map([...done.values()].map((n) => [n.instance, taskIds.get(n.taskId) ?? n.taskId]));
  for (const c of h.calls) {
    const task = taskOf.get(String(c.input.instance_id));
    if (c.name === 'merge_branch' && task !== undefined && isMergeConflict(c)) {
      failures.push({ at: c.at, report: `merge conflict on ${task}: ${oneLine(c.result?.text ?? '')}` });
    }
  }
  // The earliest failure stops the manager; it stays the earliest as the history grows.
  const failure = failures.sort((a, b) => a.at - b.at)[0];
  if (failure) return reportToParent(h, tools, `FAILED manager ${name}: ${failure.report}`);

  const merging: string[] = [];
  const terminating: string[] = [];
  const merged = new Set<string>();
  for (const [taskId, n] of done) {
    const task = taskIds.get(taskId) ?? taskId;
    const merge = standing(
      h,
      h.calls.filter((c) => c.name === 'merge_branch' && c.input.instance_id === n.instance),
    );
    if (!merge) {
      tools.add('merge_branch', { instance_id: n.instance });
      merging.push(task);
      continue;
    }
    // A merge that failed otherwise was reported then; the next prompt tries it again.
    if (!succeeded(merge)) continue;
    merged.add(taskId);
    const terminated = h.calls.some(
      (c) => c.name === 'terminate' && c.input.id === n.instance && c.at > merge.at,
    );
    if (!terminated) {
      tools.add('terminate', { id: n.instance });
      terminating.push(`${task} (${n.instance})`);
    }
  }
  if (tools.count > 0) {
    const parts = [
      merging.length ? `Merging ${merging.join(', ')}.` : '',
      terminating.length ? `Terminating ${terminating.join(', ')}.` : '',
    ];
    return tools.turn(parts.filter(Boolean).join(' '));
  }
  const total = plan.specialists.length;
  if (merged.size === total) {
    const knowledge = knowledgeStep(h, tools, 'All tasks merged; checking shared knowledge.');
    if (typeof knowledge !== 'string') return knowledge;
    return reportToParent(
      h,
      tools,
      `DONE manager ${name}: merged ${plural(total, 'task')}; knowledge: ${knowledge}`,
    );
  }
  const waiting = [...taskIds].filter(([id]) => !merged.has(id)).map(([, task]) => task);
  return endTurn(
    `Waiting for ${waiting.length} of ${plural(total, 'task')} to be done and merged: ${waiting.join(', ')}.`,
  );
}

function commitSha(resultText: string): string | undefined {
  const commit = parseJsonObject(resultText)?.commit;
  if (typeof commit === 'string' && commit) return commit;
  // `git rev-parse HEAD` prints the full sha last; prefer a full one over any shorter hex word.
  const full = resultText.match(/\b[0-9a-f]{40}\b/g);
  if (full) return full.at(-1);
  return /\b[0-9a-f]{7,40}\b/.exec(resultText)?.[0];
}

/** A word quoted for a POSIX shell: single quotes, with each `'` written as `'\''`. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The one Bash command a specialist under Claude Code commits with: stage everything, commit quietly, print
 * the new sha. A message with blank lines becomes one `-m` per paragraph (git joins them with blank lines),
 * so the command itself needs no newline between paragraphs.
 */
export function commitCommand(message: string, cd?: string): string {
  const paragraphs = message
    .split(/\r?\n[ \t]*\r?\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const flags = (paragraphs.length > 0 ? paragraphs : [message]).map((p) => `-m ${shellQuote(p)}`);
  const commit = `git add -A && git commit -q ${flags.join(' ')} && git rev-parse HEAD`;
  return cd ? `cd ${shellQuote(cd)} && ${commit}` : commit;
}

/** Claude Code refuses to overwrite an existing file that was not Read earlier in the session. */
function needsReadFirst(errorText: string): boolean {
  return /has not been read yet|read it first/i.test(errorText);
}

/** `path` resolved under `root`, or undefined when it would leave it (`..`, another absolute path). */
function underRoot(root: string, path: string): string | undefined {
  const abs = isAbsolute(path) ? normalize(path) : join(root, path);
  const rel = relative(root, abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return abs;
}

/** What a scenario knows about the session besides the conversation. */
interface Env {
  offered: readonly string[] | undefined;
  workdir: string | undefined;
  /** Where Claude Code runs Bash commands, when it says. */
  shellDir: string | undefined;
  knobs: ScriptedKnobs;
}

function offers(env: Env, name: string): boolean {
  return env.offered?.some((t) => t === name || t.endsWith(`__${name}`)) ?? false;
}

/** A supervisor without the work coordinator offers spawn but not execute_parallel: managers spawn directly. */
function spawnsDirectly(env: Env): boolean {
  return offers(env, 'spawn') && !offers(env, 'execute_parallel');
}

/**
 * Under Claude Code: the light runtime's write_file/git_commit are absent, Claude's own Write and Bash are
 * offered. Claude's Write takes absolute paths, so the files go under the worktree (or working directory).
 */
function usesClaudeTools(env: Env): boolean {
  return env.offered !== undefined && !offers(env, 'write_file') && offers(env, 'Write');
}

function succeeded(c: ToolCall): boolean {
  return c.result !== undefined && !c.result.isError;
}

/**
 * The call that stands for a step made with `calls` (the attempts, oldest first): the latest, or undefined
 * when the step is still to be made: no attempt yet, or the latest failed and a user text came after it
 * (a new prompt asks to try again; without one the failure stands and the turn ends on it).
 */
function standing(h: History, calls: readonly ToolCall[]): ToolCall | undefined {
  const last = calls.at(-1);
  if (!last || succeeded(last)) return last;
  return h.userTexts.some((t) => t.at > last.at) ? undefined : last;
}

/** A read of a missing file: an append starts from empty content (and creates the file). */
function notFound(errorText: string): boolean {
  return /ENOENT|no such file|does not exist|not found/i.test(errorText);
}

/**
 * The latest read of a file made after `after` whose result an append can start from: one that succeeded,
 * or one that found no file. Undefined when the file is still to be read.
 */
function usableRead(
  since: readonly ToolCall[],
  tool: 'read_file' | 'Read',
  key: 'path' | 'file_path',
  target: string,
  after = -1,
): ToolCall | undefined {
  const read = since.filter((c) => c.name === tool && c.input[key] === target && c.at > after).at(-1);
  return read && (succeeded(read) || notFound(read.result?.text ?? '')) ? read : undefined;
}

const REMINDER = /<system-reminder>[\s\S]*?<\/system-reminder>/g;
const NUMBERED_LINE = /^\s*(\d+)[\t:\u2192](.*)$/;

/**
 * The file content a Read result shows, or undefined when it shows only part of the file. Claude Code 2.1
 * writes each line as `<n>\t<line>` numbered from 1 (older versions pad the number and use `→`, a flag makes
 * it `:`); a file ending with a newline gets a last, empty, numbered line; notes come in `<system-reminder>`
 * blocks (an empty file is only such a note). A result without line numbers (Gemini's read_file) is the
 * content itself. Carriage returns Claude Code drops at line ends are not restored.
 */
export function readResultContent(text: string): string | undefined {
  if (text.includes('[Truncated: PARTIAL view')) return undefined;
  const lines = text
    .replace(REMINDER, '')
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (lines.length === 0) return text.includes('<system-reminder>') ? '' : text;
  const numbered = lines.map((l) => NUMBERED_LINE.exec(l));
  if (!numbered.every((m, i) => m !== null && Number(m[1]) === i + 1)) return text;
  return numbered.map((m) => m?.[2] ?? '').join('\n');
}

/** The Bash command that appends `content` to `file` (creating it): exact bytes, no here-doc delimiter. */
export function appendCommand(file: string, content: string): string {
  return `mkdir -p ${shellQuote(dirname(file))} && printf '%s' ${shellQuote(content)} >> ${shellQuote(file)}`;
}

/** A Bash command made by {@link commitCommand} (an append's content may mention git commit too). */
function isCommitCommand(command: unknown): boolean {
  return (
    typeof command === 'string' && /^(?:cd '(?:[^']|'\\'')*' && )?git add -A && git commit /.test(command)
  );
}

/** The turn that makes the reads and writes collected, or undefined when there are none. */
function filesTurn(
  tools: ToolUses,
  reading: readonly string[],
  writing: readonly string[],
): ScriptedTurn | undefined {
  if (tools.count === 0) return undefined;
  const parts = [
    reading.length ? `Reading ${plural(reading.length, 'existing file')} first: ${reading.join(', ')}.` : '',
    writing.length ? `Writing ${plural(writing.length, 'file')}: ${writing.join(', ')}.` : '',
  ];
  return tools.turn(parts.filter(Boolean).join(' '));
}

/**
 * The write_file/read_file calls still needed for the task's files in the light runtime: an append file is
 * read first (read_file returns the raw content) and written with the content added.
 */
function liteWrites(
  since: readonly ToolCall[],
  files: readonly TaskFile[],
  tools: ToolUses,
): ScriptedTurn | undefined {
  const writing: string[] = [];
  const reading: string[] = [];
  for (const f of files) {
    if (since.some((c) => c.name === 'write_file' && c.input.path === f.path && succeeded(c))) continue;
    let content = f.content;
    if (f.append) {
      const read = usableRead(since, 'read_file', 'path', f.path);
      if (!read) {
        tools.add('read_file', { path: f.path });
        reading.push(f.path);
        continue;
      }
      content = (succeeded(read) ? (read.result?.text ?? '') : '') + f.content;
    }
    tools.add('write_file', { path: f.path, content });
    writing.push(f.path);
  }
  return filesTurn(tools, reading, writing);
}

/**
 * The Write/Read (or Bash) calls still needed for the task's files under Claude Code, or a turn that stops.
 * An append file is Read first and written with the content added; without a Read tool (Codex's shell) it is
 * appended in place with {@link appendCommand}.
 */
function claudeWrites(
  since: readonly ToolCall[],
  files: readonly TaskFile[],
  env: Env,
  tools: ToolUses,
): ScriptedTurn | undefined {
  const root = env.workdir;
  if (!root) {
    return endTurn(
      'Scripted model (specialist): no working directory: the system prompt needs a "Worktree: <abs path>" ' +
        'line (or Claude Code\'s "Primary working directory: <path>").',
    );
  }
  const targets = files.map((f) => ({ ...f, abs: underRoot(root, f.path) }));
  const outside = targets.filter((t) => t.abs === undefined);
  if (outside.length > 0) {
    return endTurn(
      `Scripted model (specialist): task paths outside ${root}: ${outside.map((t) => t.path).join(', ')}`,
    );
  }
  const writing: string[] = [];
  const reading: string[] = [];
  for (const t of targets) {
    const abs = t.abs as string;
    if (t.append && !offers(env, 'Read')) {
      const command = appendCommand(abs, t.content);
      if (since.some((c) => c.name === 'Bash' && c.input.command === command && succeeded(c))) continue;
      tools.add('Bash', { command, description: `Append to ${t.path}` });
      writing.push(t.path);
      continue;
    }
    const writes = since.filter((c) => c.name === 'Write' && c.input.file_path === abs);
    if (writes.some(succeeded)) continue;
    const refused = writes.filter((c) => c.result?.isError === true && needsReadFirst(c.result.text));
    const lastRefused = refused.at(-1);
    if (refused.length >= 2) {
      return endTurn(
        `Stopping (specialist): Write ${abs} was refused again after reading it: ` +
          truncate(lastRefused?.result?.text ?? '', 300),
      );
    }
    const read = usableRead(since, 'Read', 'file_path', abs, lastRefused?.at);
    if ((t.append || lastRefused) && !read) {
      tools.add('Read', { file_path: abs });
      reading.push(t.path);
      continue;
    }
    let content = t.content;
    if (t.append) {
      const old = read && succeeded(read) ? readResultContent(read.result?.text ?? '') : '';
      if (old === undefined) {
        return endTurn(
          `Stopping (specialist): Read ${abs} shows only part of the file; cannot append to it.`,
        );
      }
      content = old + t.content;
    }
    tools.add('Write', { file_path: abs, content });
    writing.push(t.path);
  }
  return filesTurn(tools, reading, writing);
}

/** The `Task id: <id>` line the supervisor puts at the top of a coordinator task's first prompt. */
const TASK_ID_LINE = /^[ \t]*Task id:[ \t]*(\S+)[ \t]*$/m;

/** The latest user text that hands the specialist a coordinator task. */
function assignedTask(texts: readonly UserText[]): { at: number; taskId: string } | undefined {
  for (const t of [...texts].reverse()) {
    const taskId = TASK_ID_LINE.exec(t.text)?.[1];
    if (taskId) return { at: t.at, taskId };
  }
  return undefined;
}

/** A claimed coordinator task: its id and the fencing epoch complete_task and fail_task need. */
interface Lease {
  taskId: string;
  epoch: number;
}

/** claim_task for the assigned task, unless claimed since it was assigned; a refusal ends the turn. */
function claimStep(
  h: History,
  tools: ToolUses,
  assigned: { at: number; taskId: string },
): ScriptedTurn | Lease {
  const { taskId } = assigned;
  const claim = standing(
    h,
    h.calls.filter((c) => c.name === 'claim_task' && c.at > assigned.at),
  );
  if (!claim) {
    tools.add('claim_task', { task_id: taskId });
    return tools.turn(`Claiming task ${taskId}.`);
  }
  const text = claim.result?.text ?? '';
  const result = succeeded(claim) ? parseJsonObject(text) : undefined;
  // The epoch is top-level; the task view carries it too. `{"task": null, "reason"}` is a refusal.
  const epoch = result?.epoch ?? asRecord(result?.task)?.epoch;
  if (typeof epoch !== 'number') return endTurn(`CLAIM REFUSED: ${taskId}: ${truncate(text, 500)}`);
  return { taskId, epoch };
}

/** A knowledge tag: lower case, characters other than `a-z 0-9 . _ -` as `-`, starting with a letter or digit. */
export function knowledgeTag(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 50);
}

/**
 * After the commit, before complete_task: one record_discovery of the task's summary (never repeated; a
 * failure does not stop the task). The error text when it failed, '' when it succeeded, else the turn that
 * makes the call.
 */
function recordStep(
  since: readonly ToolCall[],
  tools: ToolUses,
  task: Task,
  lease: Lease,
  sha: string,
): ScriptedTurn | string {
  const call = since.find((c) => c.name === 'record_discovery');
  if (call) return succeeded(call) ? '' : oneLine(call.result?.text ?? 'no result');
  const name = task.name?.trim() || lease.taskId;
  const paths = [...new Set(task.files.map((f) => f.path))];
  const subject = (task.commit.split('\n')[0] ?? '').trim();
  tools.add('record_discovery', {
    key: `${truncate(name, 192)}.summary`,
    value: `${subject} — files: ${paths.join(', ')}; commit ${sha}`,
    tags: [...new Set(['task', knowledgeTag(name) || knowledgeTag(lease.taskId) || 'task'])],
    // The tool takes at most 50 paths.
    paths: paths.slice(0, 50),
  });
  return tools.turn(`Committed ${sha}; recording what task ${lease.taskId} did.`);
}

/**
 * The end of a coordinator task: complete_task with the commit sha, then a text that says how it went
 * (`recordError`: why record_discovery failed, '' when it did not).
 */
function completeStep(
  h: History,
  since: readonly ToolCall[],
  tools: ToolUses,
  lease: Lease,
  sha: string,
  recordError: string,
): ScriptedTurn {
  const { taskId, epoch } = lease;
  const call = standing(
    h,
    since.filter((c) => c.name === 'complete_task'),
  );
  if (!call) {
    tools.add('complete_task', { task_id: taskId, epoch, result: sha });
    return tools.turn(
      recordError
        ? `Recording the summary failed; completing task ${taskId} anyway.`
        : `Summary recorded; completing task ${taskId}.`,
    );
  }
  if (succeeded(call)) {
    const note = recordError ? `; record_discovery failed: ${recordError}` : '';
    return endTurn(`Task complete: ${taskId} ${sha}${note}`);
  }
  return endTurn(`COMPLETE REFUSED: ${taskId} epoch ${epoch}: ${truncate(call.result?.text ?? '', 500)}`);
}

/** The `fail` knob: give the claimed task up with fail_task instead of doing it. */
function failStep(
  h: History,
  since: readonly ToolCall[],
  tools: ToolUses,
  lease: Lease,
  error: string,
): ScriptedTurn {
  const { taskId, epoch } = lease;
  const call = standing(
    h,
    since.filter((c) => c.name === 'fail_task'),
  );
  if (!call) {
    tools.add('fail_task', { task_id: taskId, epoch, error });
    return tools.turn(`Giving up task ${taskId} (scripted fail knob).`);
  }
  if (succeeded(call)) return endTurn(`TASK FAILED: ${taskId} epoch ${epoch}: ${error}`);
  return endTurn(`FAIL REFUSED: ${taskId} epoch ${epoch}: ${truncate(call.result?.text ?? '', 500)}`);
}

/**
 * Writes the task's files and commits them; the commit sha once committed, else the turn to take. With
 * `progress` (a coordinator task) the commit call goes with `report_progress {percent: 50, note}`.
 */
function commitStep(
  since: readonly ToolCall[],
  task: Task,
  env: Env,
  tools: ToolUses,
  progress: boolean,
): ScriptedTurn | string {
  const claude = usesClaudeTools(env);
  const commit = since
    .filter((c) => (claude ? c.name === 'Bash' && isCommitCommand(c.input.command) : c.name === 'git_commit'))
    .at(-1);
  if (!commit) {
    const writes = claude
      ? claudeWrites(since, task.files, env, tools)
      : liteWrites(since, task.files, tools);
    if (writes) return writes;
    if (claude) {
      // Bash runs in Claude Code's working directory; a worktree elsewhere is entered first.
      const cd =
        env.workdir && env.shellDir && resolve(env.workdir) !== resolve(env.shellDir)
          ? env.workdir
          : undefined;
      tools.add('Bash', {
        command: commitCommand(task.commit, cd),
        description: 'Commit the task files and print the commit id',
      });
    } else {
      tools.add('git_commit', { message: task.commit });
    }
    if (progress) tools.add('report_progress', { percent: 50, note: 'files written, committing' });
    return tools.turn(`Committing: ${task.commit}`);
  }
  const sha = commit.result ? commitSha(commit.result.text) : undefined;
  if (!sha) {
    return endTurn(
      `Stopping (specialist): ${claude ? 'git commit' : 'git_commit'} returned no commit sha: ` +
        truncate(commit.result?.text ?? '', 300),
    );
  }
  return sha;
}

/**
 * The specialist: writes the files of the latest ```task block and commits them. Handed a coordinator task
 * (a `Task id:` line), it claims the task first and completes it with the commit sha; otherwise it sends
 * `DONE <sha>` to its parent.
 */
function specialist(h: History, tools: ToolUses, env: Env): ScriptedTurn {
  const block = lastJsonBlock(h.userTexts, 'task');
  if (!block) {
    return endTurn(
      'Scripted model (specialist): no ```task block with {"files":[…],"commit":"…"} in the conversation.',
    );
  }
  const parsed = TaskSchema.safeParse(block.value);
  if (!parsed.success) {
    return endTurn(
      `Scripted model (specialist): the task block is not {"files":[{"path","content"}],"commit"}: ` +
        truncate(parsed.error.message, 500),
    );
  }
  const task = parsed.data;
  const assigned = assignedTask(h.userTexts);
  // Only calls made since the latest task count, so a specialist handed a new task does it afresh.
  const since = h.calls.filter((c) => c.at > Math.max(block.at, assigned?.at ?? -1));
  let lease: Lease | undefined;
  if (assigned) {
    const claimed = claimStep(h, tools, assigned);
    if ('stop_reason' in claimed) return claimed;
    lease = claimed;
    if (task.fail) return failStep(h, since, tools, lease, task.fail);
  }
  const sha = commitStep(since, task, env, tools, lease !== undefined);
  if (typeof sha !== 'string') return sha;
  if (lease) {
    const recorded = recordStep(since, tools, task, lease, sha);
    if (typeof recorded !== 'string') return recorded;
    return completeStep(h, since, tools, lease, sha, recorded);
  }
  if (!since.some((c) => c.name === 'send')) {
    tools.add('send', { to: 'parent', text: `DONE ${sha}` });
    return tools.turn(`Committed ${sha}; reporting to my parent.`);
  }
  return endTurn(`Task complete: DONE ${sha}`);
}

/**
 * Failed calls a role's scenario answers itself instead of stopping with the error: a Write that needs a Read
 * first, the read of a missing file an append starts from, refused task calls (claim, complete, fail), the
 * knowledge tools (report_progress, record_discovery, query_knowledge: the work goes on without them), and a
 * coordinating manager's merge conflict.
 */
function handledByScenario(role: string, c: ToolCall, env: Env): boolean {
  const text = c.result?.text ?? '';
  if (role === 'specialist') {
    return (
      (c.name === 'Write' && needsReadFirst(text)) ||
      ((c.name === 'Read' || c.name === 'read_file') && notFound(text)) ||
      ['claim_task', 'complete_task', 'fail_task', 'report_progress', 'record_discovery'].includes(c.name)
    );
  }
  if (c.name === 'query_knowledge') return true;
  return role === 'manager' && !spawnsDirectly(env) && c.name === 'merge_branch' && isMergeConflict(c);
}

const EDIT_TOOLS = ['Edit', 'Write', 'write_file'] as const;

/**
 * The `tryEdit` knob (role-enforcement tests): before its scenario, the role tries to edit a file — with
 * Claude's Edit, else Write, else the light runtime's write_file, whichever is offered first; when none is
 * offered (Claude Code drops disallowed tools from the list) it calls Edit by name anyway. On the result it
 * ends its turn: `EDIT REFUSED: <tool> <path>: <error>` or `EDIT ALLOWED: <tool> <path>: <result>`. Later
 * turns go on with the role's scenario. Undefined when the knob is absent or the attempt is over.
 */
function tryEdit(h: History, tools: ToolUses, env: Env): ScriptedTurn | undefined {
  const target = env.knobs.tryEdit;
  if (!target) return undefined;
  const abs = isAbsolute(target) ? target : env.workdir ? join(env.workdir, target) : undefined;
  const attempt = h.calls.find(
    (c) =>
      (EDIT_TOOLS as readonly string[]).includes(c.name) &&
      (c.input.file_path === abs || c.input.file_path === target || c.input.path === target),
  );
  if (!attempt) {
    const tool = env.knobs.tryTool ?? EDIT_TOOLS.find((t) => offers(env, t)) ?? 'Edit';
    const content = 'edited by the scripted model (tryEdit knob)\n';
    if (tool === 'write_file') tools.add('write_file', { path: target, content });
    else if (tool === 'Write') tools.add('Write', { file_path: abs ?? target, content });
    else tools.add('Edit', { file_path: abs ?? target, old_string: '', new_string: content });
    return tools.turn(`Trying to edit ${target} with ${tool} (scripted tryEdit knob).`);
  }
  if (!attempt.result || attempt.at !== h.lastAssistantAt) return undefined;
  const where = `${attempt.name} ${String(attempt.input.file_path ?? attempt.input.path)}`;
  const result = truncate(attempt.result.text, 1000);
  return endTurn(
    attempt.result.isError ? `EDIT REFUSED: ${where}: ${result}` : `EDIT ALLOWED: ${where}: ${result}`,
  );
}

/** The ```scripted knobs of a conversation (its user texts) and its context texts. */
export function knobsOf(messages: readonly WireMessage[], context: readonly string[] = []): ScriptedKnobs {
  const h = analyse(expandTranscripts(messages));
  return scriptedKnobs([...context, ...h.userTexts.map((t) => t.text)]);
}

/**
 * The scripted model: decides the next assistant reply for a role from the conversation alone (pure and
 * deterministic; the same history always gives the same reply, tool ids included). Never throws: an
 * unknown role or situation yields a plain text reply that says so. A conversation with a ```chatter block
 * runs the chatter scenario (chatter.ts) whatever the role.
 */
export function nextTurn(
  role: string | undefined,
  messages: readonly WireMessage[],
  opts: NextTurnOptions = {},
): ScriptedTurn {
  const last = messages.at(-1);
  if (!last || last.role !== 'user') {
    return endTurn('Scripted model: the conversation must end with a user message.');
  }
  // A conversation compacted by Claude Code carries its earlier messages in a transcript block.
  const expanded = expandTranscripts(messages);
  const h = analyse(expanded);
  // The chatter scenario (message-bus chaos tests) runs for any role, and handles failed calls itself.
  const chatter = chatterConfig(h.userTexts.map((t) => t.text));
  if (typeof chatter === 'string') return endTurn(chatter);
  if (chatter) return chatterTurn(expanded, chatter, new ToolUses(messages, opts.tools));
  if (role !== 'executive' && role !== 'manager' && role !== 'specialist') {
    return endTurn(
      `Scripted model: unknown role ${JSON.stringify(role ?? '')}; the system prompt needs a line ` +
        '"Role: executive|manager|specialist".',
    );
  }
  const context = opts.context ?? [];
  const env: Env = {
    offered: opts.tools,
    workdir: workingDirectoryFrom(context),
    shellDir: claudeWorkingDirectoryFrom(context),
    knobs: scriptedKnobs([...context, ...h.userTexts.map((t) => t.text)]),
  };
  const tools = new ToolUses(messages, opts.tools);
  const claimed = h.calls.some((c) => c.name === 'claim_task' && succeeded(c));
  const attempt = env.knobs.tryEditAfterClaim && !claimed ? undefined : tryEdit(h, tools, env);
  if (attempt) return attempt;
  const errors = h.lastErrors.filter((c) => !handledByScenario(role, c, env));
  if (errors.length > 0) return reportErrors(role, errors);
  switch (role) {
    case 'executive':
      return executive(h, tools);
    case 'manager':
      return manager(h, tools, env);
    case 'specialist':
      return specialist(h, tools, env);
  }
}
