// The SSIM map (one value per window position), for SSIM over a subset of pixels: the mean of
// the map where the window's centre pixel is in the subset. The same definition as metrics.ts
// (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, range 255, valid region only): the mean of
// the whole map is SsimReference.ssim. Separable, as there: a row pass and a column pass.
import { gaussianWindow, SSIM_WINDOW, type Luma } from './metrics.js';

const RANGE = 255;
const C1 = (0.01 * RANGE) ** 2;
const C2 = (0.03 * RANGE) ** 2;
const WINDOW = gaussianWindow();
/** map position (r, c) is the window centred on pixel (r + MAP_OFFSET, c + MAP_OFFSET) */
export const MAP_OFFSET = (SSIM_WINDOW - 1) / 2;

/** The reference side, filtered once, for any number of images. */
export class SsimMapReference {
  /** map size: (width − 10) x (height − 10) */
  readonly mapWidth: number;
  readonly mapHeight: number;
  private readonly mu: Float64Array;
  private readonly meanSq: Float64Array;

  constructor(readonly ref: Luma) {
    const { width, height } = ref;
    if (width < SSIM_WINDOW || height < SSIM_WINDOW) throw new RangeError(`SSIM needs images of at least ${SSIM_WINDOW}x${SSIM_WINDOW}; this one is ${width}x${height}`);
    this.mapWidth = width - SSIM_WINDOW + 1;
    this.mapHeight = height - SSIM_WINDOW + 1;
    const [mu, meanSq] = filtered(ref.y, ref.y, width, height, false);
    this.mu = mu;
    this.meanSq = meanSq;
  }

  /** The SSIM map of `img` against the reference, row-major, mapWidth x mapHeight. */
  map(img: Luma): Float64Array {
    if (img.width !== this.ref.width || img.height !== this.ref.height) throw new RangeError(`images differ in size: ${img.width}x${img.height} and ${this.ref.width}x${this.ref.height}`);
    const [mx, mxx, mxy] = filtered(img.y, this.ref.y, img.width, img.height, true);
    const { mu, meanSq } = this;
    const out = new Float64Array(mx.length);
    for (let i = 0; i < out.length; i++) {
      const a = mx[i];
      const b = mu[i];
      const va = mxx[i] - a * a;
      const vb = meanSq[i] - b * b;
      const cov = mxy[i] - a * b;
      out[i] = ((2 * a * b + C1) * (2 * cov + C2)) / ((a * a + b * b + C1) * (va + vb + C2));
    }
    return out;
  }
}

/**
 * Gaussian-window means over the valid region of x, x² and (when `cross`) x·y: a row pass, then
 * a column pass. Without `cross` the third result is empty.
 */
function filtered(x: Float64Array, y: Float64Array, W: number, H: number, cross: boolean): [Float64Array, Float64Array, Float64Array] {
  const K = WINDOW.length;
  const vw = W - K + 1;
  const vh = H - K + 1;
  const rx = new Float64Array(H * vw);
  const rxx = new Float64Array(H * vw);
  const rxy = new Float64Array(cross ? H * vw : 0);
  for (let r = 0; r < H; r++) {
    const base = r * W;
    const o = r * vw;
    for (let c = 0; c < vw; c++) {
      let a = 0;
      let aa = 0;
      let ab = 0;
      for (let k = 0, i = base + c; k < K; k++, i++) {
        const v = x[i];
        const gv = WINDOW[k] * v;
        a += gv;
        aa += gv * v;
        if (cross) ab += gv * y[i];
      }
      rx[o + c] = a;
      rxx[o + c] = aa;
      if (cross) rxy[o + c] = ab;
    }
  }
  const mx = new Float64Array(vw * vh);
  const mxx = new Float64Array(vw * vh);
  const mxy = new Float64Array(cross ? vw * vh : 0);
  for (let r = 0; r < vh; r++) {
    const o = r * vw;
    for (let k = 0; k < K; k++) {
      const g = WINDOW[k];
      const from = (r + k) * vw;
      for (let c = 0; c < vw; c++) {
        mx[o + c] += g * rx[from + c];
        mxx[o + c] += g * rxx[from + c];
        if (cross) mxy[o + c] += g * rxy[from + c];
      }
    }
  }
  return [mx, mxx, mxy];
}
