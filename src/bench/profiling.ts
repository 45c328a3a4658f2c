/** Drives the supervisor-profiler preload from the benchmark: start, stop, read the profile. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './cpu-profile.js';

async function waitForFile(path: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline)
      throw new Error(`the supervisor profiler did not ${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class SupervisorProfiler {
  private stops = 0;

  constructor(
    private readonly pid: number,
    private readonly dir: string,
  ) {}

  async start(): Promise<void> {
    const marker = join(this.dir, 'started');
    rmSync(marker, { force: true });
    process.kill(this.pid, 'SIGUSR2');
    await waitForFile(marker, 'start');
  }

  /** Stops profiling; returns the raw profile's path and its summary. */
  async stop(window: string): Promise<{ file: string; summary: ProfileSummary }> {
    process.kill(this.pid, 'SIGUSR2');
    const file = join(this.dir, `supervisor-${++this.stops}.cpuprofile`);
    await waitForFile(file, 'write its profile');
    // The file is written in one call, but give a large profile a moment to land completely.
    let profile: CpuProfile | undefined;
    for (let i = 0; i < 50 && !profile; i++) {
      try {
        profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!profile?.nodes) throw new Error(`unreadable profile ${file}`);
    return { file, summary: summarizeProfile(profile, window) };
  }
}
