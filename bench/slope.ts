// The soak's trend of a series (RSS, descriptors) by least squares: the slope of the straight
// line through every sample, not end minus start, so one garbage collection or one socket open
// at the last sample does not decide the verdict. And the same through each window's lowest
// sample: a garbage-collected heap's sawtooth (tens of MB) tilts the plain fit by more than the
// goal (5 MB/h) over ten minutes, while what a leak raises is the floor the sawtooth falls back to.

export interface LineFit {
  /** units of y per unit of x */
  slope: number;
  intercept: number;
  /**
   * the slope's standard error from the residuals (NaN under 3 points). Samples a few seconds
   * apart are not independent (a GC sawtooth spans several), so this understates the
   * uncertainty; it still tells a slope from the noise around it.
   */
  stderr: number;
}

export function fitLine(x: readonly number[], y: readonly number[]): LineFit {
  const n = Math.min(x.length, y.length);
  if (n < 2) return { slope: NaN, intercept: n === 1 ? y[0] : NaN, stderr: NaN };
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (sxx === 0) return { slope: NaN, intercept: my, stderr: NaN };
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  if (n < 3) return { slope, intercept, stderr: NaN };
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i] - intercept - slope * x[i]) ** 2;
  return { slope, intercept, stderr: Math.sqrt(sse / (n - 2) / sxx) };
}

/**
 * fitLine through the lowest sample of each `window` of x (windows [0, w), [w, 2w), …). A window
 * with under half the samples of the fullest (the run's last, cut short) is left out: its low
 * is the low of fewer samples, so it would sit above the floor and tilt the fit up.
 */
export function fitFloor(x: readonly number[], y: readonly number[], window: number): LineFit {
  const windows = new Map<number, { low: number; count: number }>();
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const key = Math.floor(x[i] / window);
    const w = windows.get(key);
    if (!w) windows.set(key, { low: i, count: 1 });
    else {
      w.count++;
      if (y[i] < y[w.low]) w.low = i;
    }
  }
  const fullest = Math.max(0, ...[...windows.values()].map((w) => w.count));
  const idx = [...windows.values()]
    .filter((w) => w.count * 2 >= fullest)
    .map((w) => w.low)
    .sort((a, b) => a - b);
  return fitLine(
    idx.map((i) => x[i]),
    idx.map((i) => y[i]),
  );
}
