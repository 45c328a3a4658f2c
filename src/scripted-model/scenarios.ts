import { parseJsonObject } from '../core/index.js';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DEMO_PLAN, type ManagerPlan, type OrgPlan, type SpecialistPlan } from './demo-plan.js';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
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

const FileSchema = z.object({ path: z.string().min(1), content: z.string() });
const SpecialistSchema = z.object({
  name: z.string().min(1),
  files: z.array(FileSchema),
  commit: z.string().min(1),
});
const ManagerPlanSchema = z.object({
  name: z.string().min(1).optional(),
  specialists: z.array(SpecialistSchema),
});
const OrgPlanSchema = z.object({
  managers: z.array(z.object({ name: z.string().min(1), specialists: z.array(SpecialistSchema) })),
});
const TaskSchema = z.object({
  name: z.string().optional(),
  files: z.array(FileSchema),
  commit: z.string().min(1),
});

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

/** What the conversation so far says, derived from the history alone. */
interface History {
  calls: ToolCall[];
  userTexts: UserText[];
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
      }
    }
  });
  return { calls, userTexts, lastErrors, lastAssistantAt };
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
 * child that reports DONE, and finish when every spawned child is merged.
 */
function delegate(
  h: History,
  tools: ToolUses,
  opts: {
    childRole: 'manager' | 'specialist';
    spawnAll: () => ScriptedTurn;
    finish: (children: Child[]) => ScriptedTurn;
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
  const waiting = children.filter((c) => !merged.has(c.id));
  if (waiting.length === 0) return opts.finish(children);
  return endTurn(
    `Waiting for ${plural(waiting.length, opts.childRole)} (${waiting.map((c) => `${c.name} ${c.id}`).join(', ')}) to report DONE.`,
  );
}

function managerPrompt(m: ManagerPlan): string {
  const n = m.specialists.length;
  return (
    `You are the manager "${m.name}". Spawn one specialist (role specialist) per entry of the plan below. ` +
    `When a specialist reports DONE, merge its branch with merge_branch and terminate it. When all ${n} are ` +
    `merged, send "DONE manager ${m.name}: merged ${n} specialists" to your parent.\n\n` +
    formatFencedBlock('plan', JSON.stringify({ name: m.name, specialists: m.specialists }))
  );
}

function specialistPrompt(s: SpecialistPlan): string {
  return (
    `You are the specialist "${s.name}". Write the files of the task below, commit them with the given ` +
    `message, then send "DONE <commit sha>" to your parent.\n\n` +
    formatFencedBlock('task', JSON.stringify({ name: s.name, files: s.files, commit: s.commit }))
  );
}

function executive(h: History, tools: ToolUses): ScriptedTurn {
  const goal = h.userTexts[0]?.text ?? '';
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
    spawnAll: () => {
      if (plan.managers.length === 0) return endTurn('The plan has no managers; nothing to do.');
      for (const m of plan.managers) {
        tools.add('spawn', { role: 'manager', name: m.name, prompt: managerPrompt(m) });
      }
      const names = plan.managers.map((m) => m.name).join(', ');
      return tools.turn(
        `Plan${block ? '' : ' (demo)'}: ${plural(plan.managers.length, 'manager')} (${names}). Spawning them now.`,
      );
    },
    finish: (children) =>
      endTurn(
        `ALL DONE: merged ${plural(children.length, 'manager')} (${children.map((c) => `${c.name} ${c.id}`).join(', ')})` +
          ` for goal "${goalLine}".`,
      ),
  });
}

function manager(h: History, tools: ToolUses): ScriptedTurn {
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
  return delegate(h, tools, {
    childRole: 'specialist',
    spawnAll: () => {
      if (plan.specialists.length === 0) return endTurn('The plan has no specialists; nothing to do.');
      for (const s of plan.specialists) {
        tools.add('spawn', { role: 'specialist', name: s.name, prompt: specialistPrompt(s) });
      }
      return tools.turn(
        `Manager ${name}: spawning ${plural(plan.specialists.length, 'specialist')} (${plan.specialists.map((s) => s.name).join(', ')}).`,
      );
    },
    finish: (children) => {
      const report = `DONE manager ${name}: merged ${plural(children.length, 'specialist')}`;
      const reported = h.calls.some(
        (c) =>
          c.name === 'send' &&
          typeof c.input.text === 'string' &&
          c.input.text.startsWith('DONE manager') &&
          c.result !== undefined &&
          !c.result.isError,
      );
      if (reported) return endTurn(`Reported to parent: ${report}.`);
      tools.add('send', { to: 'parent', text: report });
      return tools.turn('All specialists merged; reporting to my parent.');
    },
  });
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

/** The Write/Read calls still needed for the task's files under Claude Code, or a turn that stops. */
function claudeWrites(
  since: readonly ToolCall[],
  files: readonly { path: string; content: string }[],
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
    const readSince = since.some(
      (c) => c.name === 'Read' && c.input.file_path === abs && c.at > (lastRefused?.at ?? -1),
    );
    if (lastRefused && !readSince) {
      tools.add('Read', { file_path: abs });
      reading.push(t.path);
    } else {
      tools.add('Write', { file_path: abs, content: t.content });
      writing.push(t.path);
    }
  }
  if (tools.count === 0) return undefined;
  const parts = [
    reading.length ? `Reading ${plural(reading.length, 'existing file')} first: ${reading.join(', ')}.` : '',
    writing.length ? `Writing ${plural(writing.length, 'file')}: ${writing.join(', ')}.` : '',
  ];
  return tools.turn(parts.filter(Boolean).join(' '));
}

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
  const claude = usesClaudeTools(env);
  // Only calls made since the latest task count, so a specialist handed a new task does it afresh.
  const since = h.calls.filter((c) => c.at > block.at);
  const commit = since
    .filter((c) =>
      claude
        ? c.name === 'Bash' && typeof c.input.command === 'string' && c.input.command.includes('git commit')
        : c.name === 'git_commit',
    )
    .at(-1);
  const report = since.filter((c) => c.name === 'send').at(-1);

  if (!commit && claude) {
    const writes = claudeWrites(since, task.files, env, tools);
    if (writes) return writes;
  } else if (!commit && !since.some((c) => c.name === 'write_file') && task.files.length > 0) {
    for (const f of task.files) tools.add('write_file', { path: f.path, content: f.content });
    return tools.turn(
      `Writing ${plural(task.files.length, 'file')}: ${task.files.map((f) => f.path).join(', ')}.`,
    );
  }
  if (!commit) {
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
    return tools.turn(`Committing: ${task.commit}`);
  }
  const sha = commit.result ? commitSha(commit.result.text) : undefined;
  if (!sha) {
    return endTurn(
      `Stopping (specialist): ${claude ? 'git commit' : 'git_commit'} returned no commit sha: ` +
        truncate(commit.result?.text ?? '', 300),
    );
  }
  if (!report) {
    tools.add('send', { to: 'parent', text: `DONE ${sha}` });
    return tools.turn(`Committed ${sha}; reporting to my parent.`);
  }
  return endTurn(`Task complete: DONE ${sha}`);
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
  const attempt = tryEdit(h, tools, env);
  if (attempt) return attempt;
  // A Write refused because the file was not read first is handled by the specialist (Read, then Write).
  const errors = h.lastErrors.filter(
    (c) => !(role === 'specialist' && c.name === 'Write' && needsReadFirst(c.result?.text ?? '')),
  );
  if (errors.length > 0) return reportErrors(role, errors);
  switch (role) {
    case 'executive':
      return executive(h, tools);
    case 'manager':
      return manager(h, tools);
    case 'specialist':
      return specialist(h, tools, env);
  }
}
