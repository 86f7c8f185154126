// The fused graph against a plain JavaScript reference of the same arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { buildBuiltinModel, seededRandom } from '../../src/infer/builtin-model.ts';
import { buildFusedBytes, CUT_HIGH, CUT_LOW, DOWN_SHARE, MOTION_DILATE, MOTION_ERODE, MOTION_HIGH, MOTION_LOW } from '../../src/infer/fused-graph.ts';
import { encodeModel } from '../../src/infer/onnx-proto.ts';

type Img = { c: number; h: number; w: number; d: Float64Array };
const img = (c: number, h: number, w: number): Img => ({ c, h, w, d: new Float64Array(c * h * w) });
const at = (m: Img, c: number, y: number, x: number) => m.d[(c * m.h + y) * m.w + x];

function blur(m: Img, sigma: number, axis: 'h' | 'w'): Img {
  const r = Math.max(1, Math.ceil(2 * sigma));
  const k: number[] = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const o = img(m.c, m.h, m.w);
  for (let c = 0; c < m.c; c++)
    for (let y = 0; y < m.h; y++)
      for (let x = 0; x < m.w; x++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const yy = axis === 'h' ? Math.min(m.h - 1, Math.max(0, y + i)) : y;
          const xx = axis === 'w' ? Math.min(m.w - 1, Math.max(0, x + i)) : x;
          acc += (k[i + r] / sum) * at(m, c, yy, xx);
        }
        o.d[(c * m.h + y) * m.w + x] = acc;
      }
  return o;
}

function resize(m: Img, h: number, w: number): Img {
  const o = img(m.c, h, w);
  const src = (o_: number, n: number, out: number) => {
    const s = Math.min(n - 1, Math.max(0, (o_ + 0.5) * (n / out) - 0.5));
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(n - 1, i0 + 1), t: s - i0 };
  };
  for (let c = 0; c < m.c; c++)
    for (let y = 0; y < h; y++) {
      const sy = src(y, m.h, h);
      for (let x = 0; x < w; x++) {
        const sx = src(x, m.w, w);
        const top = at(m, c, sy.i0, sx.i0) * (1 - sx.t) + at(m, c, sy.i0, sx.i1) * sx.t;
        const bot = at(m, c, sy.i1, sx.i0) * (1 - sx.t) + at(m, c, sy.i1, sx.i1) * sx.t;
        o.d[(c * h + y) * w + x] = top * (1 - sy.t) + bot * sy.t;
      }
    }
  return o;
}

function padReflect(m: Img, h: number, w: number): Img {
  const o = img(m.c, h, w);
  const refl = (i: number, n: number) => (i < n ? i : 2 * (n - 1) - i);
  for (let c = 0; c < m.c; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) o.d[(c * h + y) * w + x] = at(m, c, refl(y, m.h), refl(x, m.w));
  return o;
}

function crop(m: Img, h: number, w: number): Img {
  const o = img(m.c, h, w);
  for (let c = 0; c < m.c; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) o.d[(c * h + y) * w + x] = at(m, c, y, x);
  return o;
}

const sigmaFor = (f: number) => (f > 1.25 ? Math.sqrt((f * f) / 6 - 0.25) : 0);
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** The whole fused computation in plain JS; the base model runs alone in onnxruntime. */
async function reference(frame: Uint8Array, H: number, W: number, h: number, w: number, mult: number, state: Img, smooth: number, base: ort.InferenceSession) {
  const x = img(3, H, W);
  for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < 3; c++) x.d[(c * H + y) * W + xx] = frame[(y * W + xx) * 3 + c] / 255;
  let low = x;
  if (sigmaFor(H / h) > 0) low = blur(low, sigmaFor(H / h), 'h');
  if (sigmaFor(W / w) > 0) low = blur(low, sigmaFor(W / w), 'w');
  low = resize(low, h, w);
  const hp = Math.ceil(h / mult) * mult;
  const wp = Math.ceil(w / mult) * mult;
  const padded = padReflect(low, hp, wp);
  const res = await base.run({ input: new ort.Tensor('float32', Float32Array.from(padded.d), [1, 3, hp, wp]) });
  const r = img(3, hp, wp);
  r.d.set(res.residual.data as Float32Array);
  const rUp = resize(crop(r, h, w), H, W);
  const yv = img(3, H, W);
  for (let i = 0; i < yv.d.length; i++) yv.d[i] = x.d[i] - rUp.d[i];

  const change = new Float64Array(H * W);
  for (let p = 0; p < H * W; p++) change[p] = (Math.abs(yv.d[p] - state.d[p]) + Math.abs(yv.d[H * W + p] - state.d[H * W + p]) + Math.abs(yv.d[2 * H * W + p] - state.d[2 * H * W + p])) / 3;
  const meanChange = change.reduce((a, b) => a + b, 0) / (H * W);
  const cut = clamp01((meanChange - CUT_LOW) / (CUT_HIGH - CUT_LOW));
  // opening: the minimum over ERODE×ERODE, then the maximum of that over DILATE×DILATE (pixels outside the frame take no part)
  const pool = (src: Float64Array, k: number, pick: (a: number, b: number) => number, start: number) => {
    const o = new Float64Array(H * W);
    const r = k >> 1;
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++) {
        let v = start;
        for (let dy = -r; dy <= r; dy++)
          for (let dx = -r; dx <= r; dx++) {
            const yy = y + dy;
            const x2 = xx + dx;
            if (yy >= 0 && yy < H && x2 >= 0 && x2 < W) v = pick(v, src[yy * W + x2]);
          }
        o[y * W + xx] = v;
      }
    return o;
  };
  const opened = pool(pool(change, MOTION_ERODE, Math.min, Infinity), MOTION_DILATE, Math.max, -Infinity);
  const next = img(3, H, W);
  const out = new Uint8Array(H * W * 3);
  for (let y = 0; y < H; y++)
    for (let xx = 0; xx < W; xx++) {
      const p = y * W + xx;
      const m = Math.max(clamp01((opened[p] - MOTION_LOW) / (MOTION_HIGH - MOTION_LOW)), cut);
      const brighter = yv.d[p] - state.d[p] + (yv.d[H * W + p] - state.d[H * W + p]) + (yv.d[2 * H * W + p] - state.d[2 * H * W + p]) > 0;
      const a = 1 + smooth * (brighter ? 1 : DOWN_SHARE) * (m - 1);
      for (let c = 0; c < 3; c++) {
        const i = (c * H + y) * W + xx;
        next.d[i] = clamp01(state.d[i] + a * (yv.d[i] - state.d[i]));
        out[(y * W + xx) * 3 + c] = Math.floor(next.d[i] * 255 + 0.5);
      }
    }
  return { out, next };
}

test('the fused graph matches a plain JS reference within 1 in uint8, state carried over frames', async () => {
  const cases = [
    { W: 37, H: 29, w: 19, h: 15 }, // odd sizes, scale ~0.5, padding to the model multiple
    { W: 48, H: 32, w: 16, h: 11 }, // a stronger downscale (prefilter on both axes)
  ];
  const base = await ort.InferenceSession.create(encodeModel(buildBuiltinModel({ seed: 7, residualScale: 0.5 })));
  for (const { W, H, w, h } of cases) {
    const fused = await ort.InferenceSession.create(
      buildFusedBytes(buildBuiltinModel({ seed: 7, residualScale: 0.5 }), { width: W, height: H, inferWidth: w, inferHeight: h, multiple: 4, output: 'residual' }),
    );
    const rand = seededRandom(W * H);
    let state = img(3, H, W);
    let stateTensor: ort.Tensor = new ort.Tensor('float32', new Float32Array(3 * H * W), [1, 3, H, W]);
    const scene = Uint8Array.from({ length: H * W * 3 }, () => Math.floor(rand() * 256));
    for (let t = 0; t < 4; t++) {
      // a static scene with a little noise, one frame with a big change (motion and cut paths)
      const frame = scene.map((v) => Math.min(255, Math.max(0, v + Math.floor((rand() - 0.5) * (t === 2 ? 200 : 20)))));
      const smooth = t === 0 ? 0 : 0.7;
      const got = await fused.run({
        frame: new ort.Tensor('uint8', frame, [H, W, 3]),
        state: stateTensor,
        smooth: new ort.Tensor('float32', new Float32Array([smooth]), [1]),
      });
      const ref = await reference(frame, H, W, h, w, 4, state, smooth, base);
      const out = got.out.data as Uint8Array;
      let maxDiff = 0;
      for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref.out[i]));
      assert.ok(maxDiff <= 1, `${W}x${H}→${w}x${h} frame ${t}: max difference ${maxDiff}`);
      // and the output is not trivially the input: the model's residual is in it
      assert.ok(
        out.some((v, i) => v !== frame[i]),
        'the output differs from the input',
      );
      stateTensor = got.state_out;
      state = ref.next;
    }
  }
});
