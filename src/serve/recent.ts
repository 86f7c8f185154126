// Figures over the last few seconds, for /api/streams (Prometheus keeps the long view).
import { percentile } from '../util/percentile.js';

export class Recent {
  private readonly samples: { t: number; e2eMs: number; inferMs: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(e2eMs: number, inferMs: number, t = Date.now()): void {
    this.samples.push({ t, e2eMs, inferMs });
    this.trim(t);
  }

  private trim(now: number): void {
    while (this.samples.length && this.samples[0].t < now - this.windowMs) this.samples.shift();
  }

  summary(now = Date.now()): { fps: number; e2eMs: { p50: number; p95: number } | null; inferenceMs: { p50: number; p95: number } | null } {
    this.trim(now);
    const n = this.samples.length;
    if (n === 0) return { fps: 0, e2eMs: null, inferenceMs: null };
    const round = (v: number) => Math.round(v * 10) / 10;
    const e2e = this.samples.map((s) => s.e2eMs);
    const inf = this.samples.map((s) => s.inferMs);
    return {
      fps: round(n / (this.windowMs / 1000)),
      e2eMs: { p50: round(percentile(e2e, 50)), p95: round(percentile(e2e, 95)) },
      inferenceMs: { p50: round(percentile(inf, 50)), p95: round(percentile(inf, 95)) },
    };
  }
}
