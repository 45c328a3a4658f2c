import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The argv that runs a TypeScript program shipped next to the calling module with this very Node binary:
 * `node <dir>/<name>.js` once built, `node --import <tsx> <dir>/<name>.ts` from sources (tests). tsx is
 * resolved to an absolute URL here because the program runs in the agent's cwd, where `--import tsx` would
 * not resolve.
 */
export function nodeProgram(moduleUrl: string, name: string): string[] {
  const js = fileURLToPath(new URL(`./${name}.js`, moduleUrl));
  if (existsSync(js)) return [process.execPath, js];
  return [
    process.execPath,
    '--import',
    import.meta.resolve('tsx'),
    fileURLToPath(new URL(`./${name}.ts`, moduleUrl)),
  ];
}

/** POSIX shell quoting: both CLIs run a hook's `command` string through a shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_/.:=@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
