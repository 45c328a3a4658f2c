/**
 * A preload for the supervisor (NODE_OPTIONS=--import=…, set by the benchmark's --profile): SIGUSR2 starts
 * the V8 sampling profiler, the next SIGUSR2 stops it and writes the profile to
 * $TMUX_CLAUDE_BENCH_PROFILE_DIR/supervisor-<n>.cpuprofile. `started` in that directory acknowledges a start.
 * Inert in any other process (agents inherit NODE_OPTIONS through tmux).
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TMUX_CLAUDE_BENCH_PROFILE_DIR;
const entry = process.argv[1] ?? '';

if (dir && /supervisor[\\/]main\.[jt]s$/.test(entry)) {
  const session = new Session();
  session.connect();
  let running = false;
  let written = 0;
  session.post('Profiler.enable', () => {
    session.post('Profiler.setSamplingInterval', { interval: 500 });
  });
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start', () => writeFileSync(join(dir, 'started'), String(Date.now())));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      const file = join(dir, `supervisor-${++written}.cpuprofile`);
      writeFileSync(file, err ? JSON.stringify({ error: err.message }) : JSON.stringify(res.profile));
    });
  });
}
