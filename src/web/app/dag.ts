import type { TaskView } from './api';

export const NODE_W = 210;
export const NODE_H = 54;
const COL_GAP = 56;
const ROW_GAP = 12;
const PAD = 10;

export interface Placed {
  task: TaskView;
  col: number;
  row: number;
  x: number;
  y: number;
}

/** A layered layout: a task's column is the length of its longest dependency chain; rows follow parents. */
export function layoutDag(tasks: TaskView[]): { nodes: Map<string, Placed>; width: number; height: number } {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (t: TaskView): number => {
    const known = depth.get(t.id);
    if (known !== undefined) return known;
    if (visiting.has(t.id)) return 0; // a cycle (the server refuses them; draw it anyway)
    visiting.add(t.id);
    let d = 0;
    for (const dep of t.depends_on) {
      const p = byId.get(dep);
      if (p) d = Math.max(d, depthOf(p) + 1);
    }
    visiting.delete(t.id);
    depth.set(t.id, d);
    return d;
  };
  const columns: TaskView[][] = [];
  for (const t of tasks) {
    const d = depthOf(t);
    (columns[d] ??= []).push(t);
  }
  const nodes = new Map<string, Placed>();
  let maxRows = 0;
  columns.forEach((col, c) => {
    // Order by the mean row of the task's dependencies, so edges cross less.
    const keyed = col.map((t, i) => {
      const rows = t.depends_on.map((d) => nodes.get(d)?.row).filter((r): r is number => r !== undefined);
      return { t, key: rows.length > 0 ? rows.reduce((a, b) => a + b, 0) / rows.length : i, i };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    keyed.forEach(({ t }, r) => {
      nodes.set(t.id, {
        task: t,
        col: c,
        row: r,
        x: PAD + c * (NODE_W + COL_GAP),
        y: PAD + r * (NODE_H + ROW_GAP),
      });
    });
    maxRows = Math.max(maxRows, col.length);
  });
  return {
    nodes,
    width: PAD * 2 + Math.max(1, columns.length) * (NODE_W + COL_GAP) - COL_GAP,
    height: PAD * 2 + Math.max(1, maxRows) * (NODE_H + ROW_GAP) - ROW_GAP,
  };
}
