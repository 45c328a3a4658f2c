/**
 * A command hook for agent CLIs whose hooks cannot POST by themselves (or not for every event):
 * `node hook-relay.js <Event>` reads the hook's JSON payload on stdin, posts it to the supervisor's
 * /hooks/<Event> with the instance's token from the environment, and prints the answer on stdout (where the
 * CLI reads decisions such as a Stop hook's `{"decision":"block",…}`). It never fails the agent's turn: on
 * any error it prints nothing and exits 0.
 */
import { fileURLToPath } from 'node:url';
import { nodeProgram, shellQuote } from './relay-command.js';

async function readStdin(): Promise<string> {
  let data = '';
  for await (const chunk of process.stdin) data += String(chunk);
  return data;
}

async function main(): Promise<void> {
  const event = process.argv[2];
  const url = process.env.TMUX_CLAUDE_URL;
  const token = process.env.TMUX_CLAUDE_TOKEN;
  if (!event || !url || !token) return;
  const body = (await readStdin()) || '{}';
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const res = await fetch(`${url}/hooks/${encodeURIComponent(event)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      if (res.ok && text && text !== '{}') process.stdout.write(text);
      if (res.status < 500) return;
    } catch {
      /* the supervisor may be restarting: retry below */
    }
    await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
  }
}

/** The command line that runs this relay for `event`, quoted for the shell a CLI runs hooks with. */
export function hookRelayCommand(event: string): string {
  return shellQuote([...nodeProgram(import.meta.url, 'hook-relay'), event]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
