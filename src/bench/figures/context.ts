import type { BenchOrg } from '../bench-org.js';
import type { TmuxBaseline } from '../baseline.js';

/** What every figure works with: the system under test, the baseline lab and a progress line on stderr. */
export interface BenchContext {
  org: BenchOrg;
  lab: TmuxBaseline;
  progress: (line: string) => void;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
