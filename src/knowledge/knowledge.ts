import {
  TmuxClaudeError,
  globsOverlap,
  newKnowledgeId,
  normaliseRepoGlob,
  type EventInput,
  type Knowledge,
  type Logger,
  type Reservation,
  type Task,
} from '../core/index.js';
import type { Store } from '../store/index.js';

/** Limits of a discovery (documented in the README). */
export const KNOWLEDGE_LIMITS = {
  keyChars: 200,
  valueBytes: 64 * 1024,
  tags: 20,
  tagChars: 50,
  paths: 50,
  queryChars: 2_000,
  results: 100,
} as const;

/** The briefing's budget: about 1,500 tokens at ~4 characters a token. */
export const BRIEFING_MAX_CHARS = 6_000;

const TAG = /^[a-z0-9][a-z0-9._-]*$/;

/** What knowledge needs from git: the commit a branch is at, and whether paths changed on a branch since. */
export interface GitView {
  head(repo: string, branch: string): Promise<string | null>;
  changedSince(repo: string, since: string, ref: string, globs: readonly string[]): Promise<boolean>;
}

/** Who records or asks, and where their run's work lands. */
export interface Recorder {
  id: string;
  runId: string;
  branch: string | null;
  /** The task the recorder holds or was spawned for. */
  taskId: string | null;
}

/** A query's answer row: the entry and whether it still describes the run's branch. */
export interface KnowledgeResult {
  entry: Knowledge;
  relevance: number;
  /** Anchored paths changed on the run's branch after the entry's commit. */
  stale: boolean;
}

export interface KnowledgeDeps {
  store: Store;
  git: GitView;
  emit: (event: EventInput) => Promise<void>;
  log: Logger;
}

/** What a briefing is assembled from, gathered by the supervisor. */
export interface BriefingInput {
  runId: string;
  /** The parent's goal (its task text), or the run's goal for the executive. */
  parentGoal: string;
  /** Instances whose finished tasks count as "done already" (the parent's subtree). */
  creators: readonly string[];
  /** The new instance's task text and files: what relevant discoveries are searched by. */
  taskText: string;
  files: readonly string[];
  /** Live reservations of others in the run. */
  reservations: readonly Reservation[];
  /** The task being taken over (a restart or a successor), with the earlier attempts' errors. */
  previous?: { task: Task; errors: string[] } | undefined;
}

/**
 * Shared knowledge: discoveries with provenance (who, which task, when, which commit), full-text queries that
 * flag entries whose anchored paths changed on the run's branch since, and the briefing a new instance starts
 * with.
 */
export class KnowledgeBase {
  private readonly staleCache = new Map<string, boolean>();

  constructor(private readonly deps: KnowledgeDeps) {}

  async record(
    who: Recorder,
    input: { key: string; value: string; tags?: readonly string[]; paths?: readonly string[] },
  ): Promise<Knowledge> {
    const key = input.key.trim();
    if (key === '' || key.includes('\n') || key.length > KNOWLEDGE_LIMITS.keyChars) {
      throw invalid(`the key must be one line of 1–${KNOWLEDGE_LIMITS.keyChars} characters`);
    }
    if (input.value.trim() === '') throw invalid('the value is empty; record what you learned');
    const bytes = Buffer.byteLength(input.value, 'utf8');
    if (bytes > KNOWLEDGE_LIMITS.valueBytes) {
      throw invalid(`the value is ${bytes} bytes; the limit is ${KNOWLEDGE_LIMITS.valueBytes} (64 KiB)`, {
        hint: 'record a summary and point to the files or commit that hold the details',
      });
    }
    const tags = [...new Set((input.tags ?? []).map((t) => t.trim().toLowerCase()))];
    if (tags.length > KNOWLEDGE_LIMITS.tags) throw invalid(`at most ${KNOWLEDGE_LIMITS.tags} tags`);
    for (const t of tags) {
      if (!TAG.test(t) || t.length > KNOWLEDGE_LIMITS.tagChars) {
        throw invalid(`tag ${JSON.stringify(t)}: use 1–${KNOWLEDGE_LIMITS.tagChars} of a-z 0-9 . _ -`);
      }
    }
    const paths = [...new Set((input.paths ?? []).map(normaliseRepoGlob))];
    if (paths.length > KNOWLEDGE_LIMITS.paths) throw invalid(`at most ${KNOWLEDGE_LIMITS.paths} paths`);
    const run = await this.run(who.runId);
    const commit = who.branch ? await this.deps.git.head(run.repo, who.branch) : null;
    const entry = await this.deps.store.knowledge.record({
      id: newKnowledgeId(),
      runId: who.runId,
      key,
      value: input.value,
      tags,
      paths,
      recordedBy: who.id,
      taskId: who.taskId,
      commit,
      branch: who.branch,
      createdAt: Date.now(),
    });
    await this.deps.emit({
      kind: 'knowledge.recorded',
      actor: who.id,
      instanceId: who.id === 'user' ? null : who.id,
      data: { key, version: entry.version, commit, paths },
    });
    return entry;
  }

  /** Best matches first, each flagged stale or fresh against the run's branch. */
  async query(
    runId: string,
    q: {
      text?: string | undefined;
      syntax?: 'words' | 'fts' | undefined;
      tags?: readonly string[] | undefined;
      paths?: readonly string[] | undefined;
      limit?: number | undefined;
    },
  ): Promise<KnowledgeResult[]> {
    if (q.text && q.text.length > KNOWLEDGE_LIMITS.queryChars) {
      throw invalid(`the query is longer than ${KNOWLEDGE_LIMITS.queryChars} characters`);
    }
    const limit = Math.min(Math.max(q.limit ?? 10, 1), KNOWLEDGE_LIMITS.results);
    const hits = await this.deps.store.knowledge.query({
      runId,
      text: q.text,
      syntax: q.syntax,
      tags: q.tags?.map((t) => t.toLowerCase()),
      paths: q.paths?.map(normaliseRepoGlob),
      limit,
    });
    const run = await this.run(runId);
    return Promise.all(
      hits.map(async (h) => ({ ...h, stale: await this.isStale(run.repo, run.targetBranch, h.entry) })),
    );
  }

  history(runId: string, key: string): Promise<Knowledge[]> {
    return this.deps.store.knowledge.history(runId, key);
  }

  /**
   * The briefing a new instance starts with: its parent's goal, the work already done under that parent, the
   * discoveries most relevant to its task, the reservations of others that touch its files, and, for a
   * restart or a successor, the earlier attempts. At most {@link BRIEFING_MAX_CHARS} characters; sections
   * are cut, never the whole.
   */
  async briefing(input: BriefingInput): Promise<string> {
    const sections: string[] = [];
    const goal = firstLines(input.parentGoal, 6, 600);
    if (goal) sections.push(`Your parent's goal:\n${goal}`);

    if (input.previous) {
      const { task, errors } = input.previous;
      const lines = [
        `You take over task ${task.id} "${task.title}" (attempt ${task.attempts + 1} of ${task.maxAttempts}).`,
        ...errors.slice(-3).map((e) => `- an earlier attempt ended: ${oneLine(e, 300)}`),
        task.result ? `- last reported result: ${oneLine(task.result, 200)}` : '',
      ].filter(Boolean);
      sections.push(`Earlier attempts:\n${lines.join('\n')}`);
    }

    const creators = new Set(input.creators);
    const done = (await this.deps.store.tasks.list({ runId: input.runId, states: ['done'] }))
      .filter((t) => creators.has(t.createdBy))
      .slice(-15);
    if (done.length > 0) {
      const lines = done.map(
        (t) =>
          `- ${t.title} (${t.id}, by ${t.owner ?? '?'}${t.mergedAt ? ', merged' : ''})` +
          (t.result ? `: ${oneLine(t.result, 120)}` : ''),
      );
      sections.push(`Done already (do not redo):\n${lines.join('\n')}`);
    }

    const found = await this.query(input.runId, {
      text: input.taskText.slice(0, KNOWLEDGE_LIMITS.queryChars),
      limit: 8,
    }).catch(() => [] as KnowledgeResult[]);
    const byFiles = input.files.length
      ? await this.query(input.runId, { paths: input.files, limit: 8 }).catch(() => [] as KnowledgeResult[])
      : [];
    const relevant = dedupe([...byFiles, ...found]).slice(0, 8);
    if (relevant.length > 0) {
      const lines = relevant.map(
        (r) =>
          `- ${r.entry.key}${r.stale ? ' [STALE: its files changed since]' : ''} (${r.entry.recordedBy}): ` +
          oneLine(r.entry.value, 300),
      );
      sections.push(`Relevant discoveries (query_knowledge for more):\n${lines.join('\n')}`);
    }

    const conflicts = input.reservations.filter((r) => input.files.some((f) => globsOverlap(f, r.pattern)));
    if (conflicts.length > 0) {
      const lines = conflicts
        .slice(0, 10)
        .map(
          (r) => `- ${r.pattern} (${r.mode}) held by ${r.holder}${r.taskId ? ` for task ${r.taskId}` : ''}`,
        );
      sections.push(`Files of yours that others hold now:\n${lines.join('\n')}`);
    }
    return fit(sections, BRIEFING_MAX_CHARS);
  }

  private async isStale(repo: string, branch: string, e: Knowledge): Promise<boolean> {
    if (!e.commit || e.paths.length === 0) return false;
    let tip: string | null;
    try {
      tip = await this.deps.git.head(repo, branch);
    } catch {
      return false;
    }
    if (!tip) return false;
    const key = `${e.commit}|${tip}|${e.paths.join('\0')}`;
    const cached = this.staleCache.get(key);
    if (cached !== undefined) return cached;
    let stale = false;
    try {
      stale = await this.deps.git.changedSince(repo, e.commit, tip, e.paths);
    } catch (err) {
      // A commit that no longer exists (a discarded branch) cannot be compared: report fresh, log why.
      this.deps.log.debug({ err, entry: e.id }, 'staleness check failed');
    }
    if (this.staleCache.size > 10_000) this.staleCache.clear();
    this.staleCache.set(key, stale);
    return stale;
  }

  private async run(runId: string) {
    const run = await this.deps.store.runs.get(runId);
    if (!run) throw new TmuxClaudeError('NOT_FOUND', `run ${runId} not found`);
    return run;
  }
}

function invalid(message: string, opts: { hint?: string } = {}): TmuxClaudeError {
  return new TmuxClaudeError('INVALID_ARGUMENT', message, opts);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function firstLines(text: string, lines: number, max: number): string {
  const head = text.trim().split('\n').slice(0, lines).join('\n');
  return head.length <= max ? head : `${head.slice(0, max - 1)}…`;
}

function dedupe(results: readonly KnowledgeResult[]): KnowledgeResult[] {
  const seen = new Set<string>();
  return results.filter((r) => !seen.has(r.entry.id) && seen.add(r.entry.id));
}

/** Joins sections under the budget, shortening the last ones that do not fit. */
function fit(sections: readonly string[], budget: number): string {
  let out = '';
  for (const s of sections) {
    const sep = out ? '\n\n' : '';
    const room = budget - out.length - sep.length;
    if (room <= 40) break;
    out += sep + (s.length <= room ? s : `${s.slice(0, room - 1)}…`);
  }
  return out;
}
