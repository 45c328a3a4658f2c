/** Reads a V8 .cpuprofile and says where the time went. */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The JSON V8's Profiler.stop returns (and --cpu-prof writes). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the sampled time, in %. */
  share: number;
}

export interface ProfileSummary {
  /** What the profile covered. */
  window: string;
  sampledMs: number;
  /** Self time by area: a package, a tmux-claude module, Node internals, GC, idle. */
  byArea: ProfileEntry[];
  /** Functions with the most self time. */
  topSelf: ProfileEntry[];
  /** tmux-claude functions with the most inclusive time (time on the stack). */
  topProjectInclusive: ProfileEntry[];
}

function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return `package ${pkg[1]}`;
  const project = /\/dist\/(.+)$/.exec(url);
  if (project?.[1]) return `tmux-claude ${project[1].replace(/\/[^/]+$/, '')}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal?.[1]) return `node ${internal[1].replace(/\.js$/, '')}`;
  return url;
}

function frameName(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
  return `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
}

function top(map: Map<string, number>, total: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? (us / total) * 100 : 0 }));
}

export function summarizeProfile(profile: CpuProfile, window: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += dt;
    self.set(frameName(node.callFrame), (self.get(frameName(node.callFrame)) ?? 0) + dt);
    areas.set(area(node.callFrame), (areas.get(area(node.callFrame)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (!frame || !frame.url.includes('/dist/')) continue;
      const name = frameName(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
    }
  });
  return {
    window,
    sampledMs: total / 1000,
    byArea: top(areas, total, 15),
    topSelf: top(self, total, 20),
    topProjectInclusive: top(inclusive, total, 15),
  };
}
