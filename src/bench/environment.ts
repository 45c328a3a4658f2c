/** The machine a benchmark ran on, for the report. */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface Machine {
  os: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  tmux: string;
  git: string;
  sqlite: string;
}

function firstLine(argv: [string, ...string[]]): string {
  const [bin, ...args] = argv;
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 ? (r.stdout.split('\n')[0] ?? '').trim() : 'unavailable';
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) return `${m[1]} (Linux ${release()})`;
  } catch {
    // not every system has /etc/os-release
  }
  return `${process.platform} ${release()}`;
}

function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    return (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

export function describeMachine(): Machine {
  const cpuList = cpus();
  return {
    os: osName(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    tmux: firstLine(['tmux', '-V']),
    git: firstLine(['git', '--version']),
    sqlite: sqliteVersion(),
  };
}
