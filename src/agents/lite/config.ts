import { z } from 'zod';
import { ROLES, TmuxClaudeError, type Role } from '../../core/index.js';

// Unset and empty variables mean the same thing.
const optional = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

const EnvSchema = z.object({
  TMUX_CLAUDE_INSTANCE: z.string().min(1),
  TMUX_CLAUDE_ROLE: z.enum(ROLES as [Role, ...Role[]]),
  TMUX_CLAUDE_URL: z.url(),
  TMUX_CLAUDE_TOKEN: z.string().min(1),
  ANTHROPIC_BASE_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url().optional()),
  ANTHROPIC_API_KEY: optional,
  TMUX_CLAUDE_MODEL: optional,
  TMUX_CLAUDE_SYSTEM_PROMPT_FILE: optional,
  TMUX_CLAUDE_TRANSCRIPT: optional,
  TMUX_CLAUDE_RESUME: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['0', '1']).optional()),
});

/** The lite runtime's configuration, read from the environment the supervisor sets on the pane. */
export interface LiteConfig {
  instanceId: string;
  role: Role;
  /** Supervisor base URL, without a trailing slash. */
  supervisorUrl: string;
  token: string;
  anthropicBaseUrl: string | undefined;
  anthropicApiKey: string;
  model: string;
  systemPromptFile: string | undefined;
  transcriptPath: string | undefined;
  /**
   * `TMUX_CLAUDE_RESUME=1`: the supervisor restarted this instance, so the runtime continues the conversation
   * recorded in its transcript.
   */
  resume: boolean;
}

/** Reads the configuration; throws TmuxClaudeError INVALID_ARGUMENT naming every bad variable. */
export function liteConfigFromEnv(env: NodeJS.ProcessEnv): LiteConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TmuxClaudeError('INVALID_ARGUMENT', `lite runtime environment is incomplete: ${problems}`, {
      hint: 'the supervisor sets these variables when it spawns an instance',
    });
  }
  const e = parsed.data;
  return {
    instanceId: e.TMUX_CLAUDE_INSTANCE,
    role: e.TMUX_CLAUDE_ROLE,
    supervisorUrl: e.TMUX_CLAUDE_URL.replace(/\/+$/, ''),
    token: e.TMUX_CLAUDE_TOKEN,
    anthropicBaseUrl: e.ANTHROPIC_BASE_URL,
    anthropicApiKey: e.ANTHROPIC_API_KEY ?? 'scripted',
    model: e.TMUX_CLAUDE_MODEL ?? 'scripted',
    systemPromptFile: e.TMUX_CLAUDE_SYSTEM_PROMPT_FILE,
    transcriptPath: e.TMUX_CLAUDE_TRANSCRIPT,
    resume: e.TMUX_CLAUDE_RESUME === '1',
  };
}
