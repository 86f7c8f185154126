// Figures over the last moments of what this page displayed: fps and capture→display latency.

export class Rolling {
  private readonly t: number[] = [];
  private readonly v: number[] = [];

  constructor(private readonly windowMs = 2000) {}

  add(value: number, now: number): void {
    this.t.push(now);
    this.v.push(value);
    this.trim(now);
  }

  private trim(now: number): void {
    let n = 0;
    while (n < this.t.length && this.t[n] < now - this.windowMs) n++;
    if (n) {
      this.t.splice(0, n);
      this.v.splice(0, n);
    }
  }

  /** events per second over the window */
  rate(now: number): number {
    this.trim(now);
    return this.t.length / (this.windowMs / 1000);
  }

  /** the median value over the window, null when empty */
  median(now: number): number | null {
    this.trim(now);
    if (!this.v.length) return null;
    const s = [...this.v].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }
}
