// The soak's trend of a series (RSS, descriptors) by least squares: the slope of the straight
// line through every sample, not end minus start, so one garbage collection or one socket open
// at the last sample does not decide the verdict.

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
