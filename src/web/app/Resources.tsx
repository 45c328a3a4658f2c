import { isLive } from './api';
import { align, Chart, type ChartSeries } from './Chart';
import { fmtBytes, fmtPercent } from './format';
import { useLive } from './hooks';
import type { Live } from './live';

/** CPU and memory of one instance's agent process tree (details pane). */
export function InstanceResourceChart({ id }: { id: string }) {
  const l = useLive('resources');
  const s = l.instanceSeries.get(id);
  if (!s || s.ts.length === 0) {
    return (
      <div class="empty small" data-testid="instance-resources-empty">
        No resource samples (the instance has no running agent process).
      </div>
    );
  }
  const series: ChartSeries[] = [
    { label: 'CPU', unit: 'percent' },
    { label: 'RSS', unit: 'bytes' },
  ];
  return (
    <Chart
      title={`${id}: CPU (% of one core) and resident memory`}
      series={series}
      data={[s.ts, s.cpu, s.rss]}
      height={150}
      testid="instance-resources-chart"
    />
  );
}

/** The run's instances with samples: the live ones, and ended ones sampled in the last ten minutes. */
function instancesShown(l: Live): string[] {
  const since = Date.now() / 1000 - 600;
  return l
    .runInstances()
    .filter((i) => {
      const s = l.instanceSeries.get(i.id);
      return s !== undefined && s.ts.length > 0 && (isLive(i.state) || (s.ts.at(-1) ?? 0) > since);
    })
    .map((i) => i.id);
}

/** Host CPU/memory and every instance's CPU/RSS over the last minutes, from the live stream. */
export function Resources() {
  const l = useLive('resources', 'instances');
  const h = l.host;
  const latest = l.latestResources;
  const ids = instancesShown(l);
  const cpuData = align(
    ids.map((id) => ({ ts: l.instanceSeries.get(id)!.ts, values: l.instanceSeries.get(id)!.cpu })),
  );
  const rssData = align(
    ids.map((id) => ({ ts: l.instanceSeries.get(id)!.ts, values: l.instanceSeries.get(id)!.rss })),
  );
  const host = latest?.host;
  return (
    <section class="panel resources" data-testid="panel-resources">
      <div class="panel-head">
        <h2>Resources</h2>
        {host && (
          <span class="dim" data-testid="host-summary">
            host CPU {fmtPercent(host.cpuPercent)} of {host.cpus} cores · load{' '}
            {host.load.map((x) => x.toFixed(2)).join(' ')} · memory{' '}
            {fmtBytes(host.memTotalBytes - host.memFreeBytes)} / {fmtBytes(host.memTotalBytes)} · supervisor{' '}
            {fmtBytes(host.supervisor?.rssBytes)}
          </span>
        )}
        <span class="spacer" />
        <span class="dim">every {Math.round(l.resourceIntervalMs / 100) / 10} s</span>
      </div>
      {l.errors.resources && <div class="error-line">{l.errors.resources}</div>}
      <div class="scroll chart-grid">
        <Chart
          title="Host CPU (% of all cores); supervisor and tmux (% of one core)"
          testid="chart-host-cpu"
          series={[
            { label: 'host', unit: 'percent' },
            { label: 'supervisor', unit: 'percent' },
            { label: 'tmux', unit: 'percent' },
          ]}
          data={[h.ts, h.cpu, h.supervisorCpu, h.tmuxCpu]}
        />
        <Chart
          title={`Host memory in use (of ${fmtBytes(host?.memTotalBytes)})`}
          testid="chart-host-memory"
          series={[
            { label: 'used', unit: 'bytes' },
            { label: 'supervisor RSS', unit: 'bytes' },
          ]}
          data={[h.ts, h.memUsed, h.supervisorRss]}
        />
        {ids.length === 0 ? (
          <div class="empty" data-testid="instances-resources-empty">
            No live instance in this run is being sampled.
          </div>
        ) : (
          <>
            <Chart
              title="Instances: CPU (% of one core, process tree)"
              testid="chart-instances-cpu"
              series={ids.map((id) => ({ label: id, unit: 'percent' }))}
              data={cpuData}
            />
            <Chart
              title="Instances: resident memory (process tree)"
              testid="chart-instances-rss"
              series={ids.map((id) => ({ label: id, unit: 'bytes' }))}
              data={rssData}
            />
          </>
        )}
      </div>
    </section>
  );
}
