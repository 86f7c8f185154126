// A small fixed-size time chart (uPlot) of the last minutes, one sample a second.
import uPlot from 'uplot';

export const HISTORY_SECONDS = 300;

export interface SeriesSpec {
  label: string;
  color: string;
  /** dashed: the secondary series */
  dash?: boolean;
}

/** 24-hour wall-clock time of a tick (seconds since the epoch): HH:MM, or HH:MM:SS when ticks are closer than a minute. */
function clock(t: number, seconds: boolean): string {
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}${seconds ? `:${p(d.getSeconds())}` : ''}`;
}

export class TimeChart {
  private readonly plot: uPlot;
  private readonly data: number[][];

  constructor(el: HTMLElement, series: SeriesSpec[], opts: { unit: string; minMax: number }) {
    this.data = [[], ...series.map(() => [])];
    const axisStyle = { stroke: '#aab4c3', grid: { stroke: '#283040', width: 1 }, ticks: { stroke: '#283040', width: 1 }, font: '12px system-ui, sans-serif', size: 30 };
    this.plot = new uPlot(
      {
        width: Math.max(120, el.clientWidth),
        height: 96,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          // from zero, and never flatter than minMax, so noise does not look like a cliff
          y: { range: (_u, _min, max) => [0, Math.max(opts.minMax, Math.ceil((max || 0) * 1.15))] },
        },
        axes: [
          { ...axisStyle, space: 70, values: (_u, ticks, _space, incr) => ticks.map((t) => clock(t, incr < 60)) },
          { ...axisStyle, size: 42, values: (_u, ticks) => ticks.map((t) => `${t}`) },
        ],
        series: [{}, ...series.map((s) => ({ label: `${s.label} (${opts.unit})`, stroke: s.color, width: 2, dash: s.dash ? [6, 4] : undefined, points: { show: false }, spanGaps: false }))],
      },
      this.data as uPlot.AlignedData,
      el,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(120, el.clientWidth), height: 96 })).observe(el);
  }

  /** one sample per series at time t (seconds); null leaves a gap */
  push(t: number, values: (number | null)[]): void {
    this.data[0].push(t);
    values.forEach((v, i) => this.data[i + 1].push(v as number));
    const cut = t - HISTORY_SECONDS;
    let n = 0;
    while (n < this.data[0].length && this.data[0][n] < cut) n++;
    if (n) for (const d of this.data) d.splice(0, n);
    this.plot.setData(this.data as uPlot.AlignedData);
  }
}
