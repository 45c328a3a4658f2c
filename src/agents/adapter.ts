import type { AgentKind, Role } from '../core/index.js';

/** Everything an adapter needs to launch one instance. */
export interface LaunchContext {
  instanceId: string;
  role: Role;
  cwd: string;
  /** Private per-instance directory for prompt files, transcripts and CLI state. */
  instanceDir: string;
  systemPromptFile: string;
  supervisorUrl: string;
  token: string;
  /** Run-level environment (e.g. the model endpoint). */
  env: Record<string, string>;
}

export interface LaunchSpec {
  command: string[];
  env: Record<string, string>;
}

/** One adapter per agent CLI. */
export interface AgentAdapter {
  readonly kind: AgentKind;
  /** Launch command and environment; may write config files into ctx.instanceDir. */
  prepare(ctx: LaunchContext): Promise<LaunchSpec>;
}
