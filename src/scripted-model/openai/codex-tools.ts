import { posix } from 'node:path';
import { shellQuote } from '../scenarios.js';

/**
 * Codex offers one shell tool (`exec_command {cmd}`) and edits files through it. The scenarios speak Claude
 * Code's `Bash {command}` and `Write {file_path, content}`; this module translates both ways, so a Codex
 * specialist runs the same scenario as a Claude one. A Write becomes `mkdir -p` and a `printf` into the file
 * (exact bytes, no here-doc delimiter to collide with), recognised again when it comes back in the history.
 */

/** Codex's shell tool. */
export const CODEX_SHELL = 'exec_command';

const QUOTED = String.raw`'(?:[^']|'\\'')*'`;
const PRINTF_WRITE = new RegExp(
  String.raw`^mkdir -p ${QUOTED} && printf '%s' (${QUOTED}) > (${QUOTED})$`,
  's',
);

function unquote(word: string): string {
  return word.slice(1, -1).replaceAll(`'\\''`, `'`);
}

/** The scenario's view of a Codex shell call: a Write when it is one of ours, else Bash. */
export function fromCodexShell(args: Record<string, unknown>): {
  name: string;
  input: Record<string, unknown>;
} {
  const cmd = typeof args.cmd === 'string' ? args.cmd : '';
  const write = PRINTF_WRITE.exec(cmd);
  if (write?.[1] && write[2]) {
    return { name: 'Write', input: { file_path: unquote(write[2]), content: unquote(write[1]) } };
  }
  return { name: 'Bash', input: { command: cmd } };
}

/** A scenario call as Codex runs it; undefined for calls that are not Bash or Write. */
export function toCodexShell(
  name: string,
  input: Record<string, unknown>,
): Record<string, unknown> | undefined {
  if (name === 'Bash' && typeof input.command === 'string') return { cmd: input.command, login: false };
  if (name === 'Write' && typeof input.file_path === 'string' && typeof input.content === 'string') {
    // Like Claude's Write, create the file's directory first.
    const dir = shellQuote(posix.dirname(input.file_path));
    const cmd = `mkdir -p ${dir} && printf '%s' ${shellQuote(input.content)} > ${shellQuote(input.file_path)}`;
    return { cmd, login: false };
  }
  return undefined;
}

const EXEC_HEADER =
  /^(?:Chunk ID: \S+\n)?Wall time: [\d.]+ seconds\n(?:Process exited with code (-?\d+)\n)?(?:Original token count: \d+\n)?Output:\n/;

/**
 * A Codex tool output as the tool's own text: Codex prefixes shell and MCP results with timing lines and
 * "Output:". A shell command that exited non-zero counts as a failed call.
 */
export function codexOutput(output: string): { text: string; failed: boolean } {
  const header = EXEC_HEADER.exec(output);
  if (!header) return { text: output, failed: false };
  return { text: output.slice(header[0].length), failed: header[1] !== undefined && header[1] !== '0' };
}
