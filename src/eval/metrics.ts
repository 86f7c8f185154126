// The quality metrics of the deraining literature (../shared/data/README.md): PSNR and SSIM on the
// Y channel of uint8 images. An offline tool (derain eval), so computed in JavaScript; SSIM's
// 11x11 Gaussian window is separable, so it runs as a row pass and a column pass (22 taps a
// pixel, not 121), which keeps all of Rain100H within seconds.

/** PSNR of identical images is infinite; it is reported as this conventional cap, so means and JSON stay finite. */
export const PSNR_CAP_DB = 100;

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;
const RANGE = 255;
const C1 = (0.01 * RANGE) ** 2;
const C2 = (0.03 * RANGE) ** 2;

/** The normalized 1-D Gaussian; its outer product with itself is MATLAB's fspecial('gaussian', 11, 1.5). */
export function gaussianWindow(size = SSIM_WINDOW, sigma = SSIM_SIGMA): Float64Array {
  const k = new Float64Array(size);
  const c = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) sum += k[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) k[i] /= sum;
  return k;
}

const WINDOW = gaussianWindow();

/** A single-channel image of Y values (16..235 for uint8 RGB). */
export interface Luma {
  width: number;
  height: number;
  y: Float64Array;
}

/**
 * Y of YCbCr (BT.601, studio range) of rgb24 pixels, rounded to an integer as for a uint8 image:
 * Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255. Computed in integers (scaled by 255000), so
 * the rounding is exact, never at the mercy of floating-point order.
 */
export function lumaOf(rgb: Uint8Array, width: number, height: number): Luma {
  const n = width * height;
  if (rgb.length !== n * 3) throw new RangeError(`rgb24 data of ${rgb.length} bytes is not ${width}x${height}x3`);
  const y = new Float64Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const scaled = 16 * 255000 + 65481 * rgb[j] + 128553 * rgb[j + 1] + 24966 * rgb[j + 2];
    y[i] = Math.floor((scaled + 127500) / 255000);
  }
  return { width, height, y };
}

function sameSize(a: Luma, b: Luma): void {
  if (a.width !== b.width || a.height !== b.height) throw new RangeError(`images differ in size: ${a.width}x${a.height} and ${b.width}x${b.height}`);
}

/** PSNR in dB with peak 255, capped at PSNR_CAP_DB. */
export function psnr(a: Luma, b: Luma): number {
  sameSize(a, b);
  let sum = 0;
  for (let i = 0; i < a.y.length; i++) {
    const d = a.y[i] - b.y[i];
    sum += d * d;
  }
  const mse = sum / a.y.length;
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, 10 * Math.log10((RANGE * RANGE) / mse));
}

/**
 * The reference (ground-truth) side of SSIM, filtered once and compared with any number of
 * images (the model's output and the rainy input).
 */
export class SsimReference {
  private readonly vw: number;
  private readonly vh: number;
  /** local means and local means of squares of the reference, over the valid region */
  private readonly mu: Float64Array;
  private readonly meanSq: Float64Array;

  constructor(readonly ref: Luma) {
    const { width, height } = ref;
    if (width < SSIM_WINDOW || height < SSIM_WINDOW) throw new RangeError(`SSIM needs images of at least ${SSIM_WINDOW}x${SSIM_WINDOW}; this one is ${width}x${height}`);
    this.vw = width - SSIM_WINDOW + 1;
    this.vh = height - SSIM_WINDOW + 1;
    this.mu = new Float64Array(this.vw * this.vh);
    this.meanSq = new Float64Array(this.vw * this.vh);
    const [h1, h2] = rowPass(ref.y, ref.y, width, height);
    const acc = [new Float64Array(this.vw), new Float64Array(this.vw), new Float64Array(this.vw)];
    for (let r = 0; r < this.vh; r++) {
      columnPass(h1, h2, h2, r, this.vw, acc);
      this.mu.set(acc[0], r * this.vw);
      this.meanSq.set(acc[1], r * this.vw);
    }
  }

  /** Mean SSIM of `img` against the reference, over the valid region (no padding). */
  ssim(img: Luma): number {
    sameSize(img, this.ref);
    const { vw, vh, mu, meanSq } = this;
    const [hx, hxx, hxy] = rowPass(img.y, this.ref.y, img.width, img.height);
    const acc = [new Float64Array(vw), new Float64Array(vw), new Float64Array(vw)];
    const [mx, mxx, mxy] = acc;
    let sum = 0;
    for (let r = 0; r < vh; r++) {
      columnPass(hx, hxx, hxy, r, vw, acc);
      const o = r * vw;
      for (let c = 0; c < vw; c++) {
        const a = mx[c];
        const b = mu[o + c];
        const va = mxx[c] - a * a;
        const vb = meanSq[o + c] - b * b;
        const cov = mxy[c] - a * b;
        sum += ((2 * a * b + C1) * (2 * cov + C2)) / ((a * a + b * b + C1) * (va + vb + C2));
      }
    }
    return sum / (vw * vh);
  }
}

/** SSIM of two Y images (for one comparison; SsimReference when one reference meets several images). */
export function ssim(a: Luma, ref: Luma): number {
  return new SsimReference(ref).ssim(a);
}

/**
 * Gaussian window sums along rows, where the window fits whole, of x, x² and x·y at once
 * (one read of each pixel serves all three). Each result is height x (width − 10).
 */
function rowPass(x: Float64Array, y: Float64Array, W: number, H: number): [Float64Array, Float64Array, Float64Array] {
  const K = WINDOW.length;
  const g = WINDOW;
  const vw = W - K + 1;
  const sx = new Float64Array(H * vw);
  const sxx = new Float64Array(H * vw);
  const sxy = new Float64Array(H * vw);
  for (let r = 0; r < H; r++) {
    const base = r * W;
    const out = r * vw;
    for (let c = 0; c < vw; c++) {
      let a = 0;
      let aa = 0;
      let ab = 0;
      for (let k = 0, i = base + c; k < K; k++, i++) {
        const v = x[i];
        const gv = g[k] * v;
        a += gv;
        aa += gv * v;
        ab += gv * y[i];
      }
      sx[out + c] = a;
      sxx[out + c] = aa;
      sxy[out + c] = ab;
    }
  }
  return [sx, sxx, sxy];
}

/** The Gaussian window sums down the columns for valid row r, into acc (three rows of vw). */
function columnPass(p: Float64Array, q: Float64Array, s: Float64Array, r: number, vw: number, acc: Float64Array[]): void {
  const [ap, aq, as] = acc;
  ap.fill(0);
  aq.fill(0);
  as.fill(0);
  for (let k = 0; k < WINDOW.length; k++) {
    const g = WINDOW[k];
    const from = (r + k) * vw;
    for (let c = 0; c < vw; c++) {
      ap[c] += g * p[from + c];
      aq[c] += g * q[from + c];
      as[c] += g * s[from + c];
    }
  }
}
