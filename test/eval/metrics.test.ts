// PSNR and SSIM on Y against values worked out independently: by hand, by a direct 2-D window
// (not the separable passes the code uses), and the input figures of ../shared/data/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { gaussianWindow, lumaOf, psnr, PSNR_CAP_DB, ssim, SsimReference, type Luma } from '../../src/eval/metrics.ts';
import { readImage } from '../../src/eval/read-image.ts';
import { SHARED_DATA } from '../helpers.ts';

const RAIN100H = path.join(SHARED_DATA, 'rain100h');

function luma(width: number, height: number, f: (x: number, y: number) => number): Luma {
  const y = new Float64Array(width * height);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) y[r * width + c] = f(c, r);
  return { width, height, y };
}

/** Wang et al.'s SSIM written the plain way: an explicit 11x11 kernel, every window summed in 2-D. */
function ssimDirect(a: Luma, b: Luma): number {
  const k: number[][] = [];
  let total = 0;
  for (let i = -5; i <= 5; i++) {
    const row: number[] = [];
    for (let j = -5; j <= 5; j++) {
      const w = Math.exp(-(i * i + j * j) / (2 * 1.5 * 1.5));
      row.push(w);
      total += w;
    }
    k.push(row);
  }
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  let sum = 0;
  let n = 0;
  for (let r = 0; r + 11 <= a.height; r++) {
    for (let c = 0; c + 11 <= a.width; c++) {
      let ma = 0,
        mb = 0,
        saa = 0,
        sbb = 0,
        sab = 0;
      for (let i = 0; i < 11; i++) {
        for (let j = 0; j < 11; j++) {
          const w = k[i][j] / total;
          const p = a.y[(r + i) * a.width + c + j];
          const q = b.y[(r + i) * b.width + c + j];
          ma += w * p;
          mb += w * q;
          saa += w * p * p;
          sbb += w * q * q;
          sab += w * p * q;
        }
      }
      const va = saa - ma * ma;
      const vb = sbb - mb * mb;
      const cov = sab - ma * mb;
      sum += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      n++;
    }
  }
  return sum / n;
}

/** A deterministic pseudo-random generator, so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test('Y of rgb24: the BT.601 studio-range values, rounded', () => {
  // by hand: 16 + (65.481 R + 128.553 G + 24.966 B) / 255
  //   black 16; white 16 + 219 = 235; red 81.481 -> 81; green 144.553 -> 145; blue 40.966 -> 41;
  //   (100, 150, 200): 16 + (6548.1 + 19282.95 + 4993.2) / 255 = 136.879 -> 137
  //   (1, 0, 0): 16.2568 -> 16; (0, 1, 1): 16 + 153.519/255 = 16.602 -> 17
  const rgb = Uint8Array.from([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 150, 200, 1, 0, 0, 0, 1, 1]);
  assert.deepEqual([...lumaOf(rgb, 8, 1).y], [16, 235, 81, 145, 41, 137, 16, 17]);
  assert.throws(() => lumaOf(rgb, 3, 3), /not 3x3x3/);
});

test('PSNR by hand, and identical images at the cap', () => {
  const a = luma(4, 4, () => 100);
  // One pixel of 16 off by 2: MSE = 4/16 = 0.25, PSNR = 10 log10(65025 / 0.25) = 54.1514 dB.
  const b = luma(4, 4, (x, y) => (x === 1 && y === 2 ? 102 : 100));
  assert.ok(Math.abs(psnr(a, b) - 54.1514) < 0.001, `${psnr(a, b)}`);
  // Every pixel off by 255 (0 vs 255): MSE = 65025, PSNR = 0 dB.
  assert.ok(
    Math.abs(
      psnr(
        luma(3, 5, () => 0),
        luma(3, 5, () => 255),
      ),
    ) < 1e-12,
  );
  // Identical images: infinite PSNR, reported as the conventional 100 dB cap.
  assert.equal(psnr(a, a), PSNR_CAP_DB);
  assert.equal(PSNR_CAP_DB, 100);
  assert.throws(
    () =>
      psnr(
        a,
        luma(4, 3, () => 100),
      ),
    /differ in size/,
  );
});

test("the Gaussian window is fspecial('gaussian', 11, 1.5)", () => {
  const g = gaussianWindow();
  assert.equal(g.length, 11);
  assert.ok(Math.abs(g.reduce((s, v) => s + v, 0) - 1) < 1e-12);
  // by hand: sum of exp(-i^2 / 4.5) for i = -5..5 is 3.75926, so the 2-D centre is (1 / 3.75926)^2
  assert.ok(Math.abs(g[5] * g[5] - 0.070762) < 1e-5, `${g[5] * g[5]}`);
});

test('SSIM by hand: identical images give 1; flat images give (2ab + C1) / (a² + b² + C1)', () => {
  const rand = lcg(7);
  const noisy = luma(20, 17, () => Math.round(16 + rand() * 219));
  assert.ok(Math.abs(ssim(noisy, noisy) - 1) < 1e-12);
  // Zero variance everywhere: the structure term is C2 / C2 = 1, only the luminance term stays.
  // a = 100, b = 120, C1 = 6.5025: (24000 + 6.5025) / (10000 + 14400 + 6.5025) = 0.983611
  assert.ok(
    Math.abs(
      ssim(
        luma(16, 16, () => 100),
        luma(16, 16, () => 120),
      ) - 0.983611,
    ) < 1e-6,
  );
  assert.throws(
    () =>
      ssim(
        luma(10, 20, () => 1),
        luma(10, 20, () => 1),
      ),
    /at least 11x11/,
  );
});

test('SSIM matches a direct 2-D window computation', () => {
  const rand = lcg(42);
  const W = 37;
  const H = 23;
  const clean = luma(W, H, (x, y) => Math.round(16 + 219 * (0.5 + 0.4 * Math.sin(x / 4) * Math.cos(y / 5))));
  const rain = luma(W, H, (x, y) => Math.min(235, clean.y[y * W + x] + ((x + 2 * y) % 9 === 0 ? 90 : 0)));
  const noise = luma(W, H, () => Math.round(16 + rand() * 219));
  const ref = new SsimReference(clean);
  for (const [what, img] of [
    ['streaks', rain],
    ['noise', noise],
    ['itself', clean],
  ] as const) {
    const want = ssimDirect(img, clean);
    const got = ref.ssim(img);
    assert.ok(Math.abs(got - want) < 1e-9, `${what}: ${got} vs direct ${want}`);
  }
  // The reference is the second argument; SSIM is symmetric, so swapping gives the same value.
  assert.ok(Math.abs(ssim(clean, rain) - ssimDirect(rain, clean)) < 1e-9);
});

test('Rain100H input figures of ../shared/data/README.md: 13.55 dB / 0.378 over 100, 13.59 dB over the first 10', async () => {
  assert.ok(existsSync(RAIN100H), `the Rain100H set is missing: ${RAIN100H}`);
  const psnrs: number[] = [];
  const ssims: number[] = [];
  for (let i = 1; i <= 100; i++) {
    const [rain, clean] = await Promise.all([readImage(path.join(RAIN100H, 'rain', `${i}.png`)), readImage(path.join(RAIN100H, 'norain', `${i}.png`))]);
    const ref = new SsimReference(lumaOf(clean.data, clean.width, clean.height));
    const input = lumaOf(rain.data, rain.width, rain.height);
    psnrs.push(psnr(input, ref.ref));
    ssims.push(ref.ssim(input));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean(psnrs) - 13.55) < 0.01, `PSNR ${mean(psnrs)}`);
  assert.ok(Math.abs(mean(ssims) - 0.378) < 0.001, `SSIM ${mean(ssims)}`);
  assert.ok(Math.abs(mean(psnrs.slice(0, 10)) - 13.59) < 0.01, `PSNR of the first 10: ${mean(psnrs.slice(0, 10))}`);
});
