// ONNX for the fused nodes of fuse.ts: one kernel each where ONNX has one, and no transposes.
import { DataType } from '../graph-builder.js';
import type { OpHandler } from './ops-elementwise.js';
import { FUSED } from './fuse.js';
import type { OpContext } from './values.js';

const BIG = Number.MAX_SAFE_INTEGER;

function rankOrFail(ctx: OpContext): number {
  return ctx.inputs[0].rank ?? ctx.fail('the rank of its input is not known at import time');
}

/** A constant reshaped (its data unchanged) for broadcasting. */
function reshapedConst(ctx: OpContext, i: number, shape: number[]): string {
  const c = ctx.constant(i, 'weights');
  return ctx.b.init('w', DataType.FLOAT, shape, c.data as Float32Array);
}

/** LayerNorm over the last axis (fuse.ts only matches that one). */
const layerNorm: OpHandler = (ctx) => {
  const eps = ctx.attr('epsilon')?.f ?? ctx.fail('attribute epsilon is missing');
  const c = ctx.constant(1, 'scale').data.length;
  const name = ctx.b.op('LayerNormalization', [ctx.tensor(0), reshapedConst(ctx, 1, [c]), reshapedConst(ctx, 2, [c])], { axis: -1, epsilon: { float: eps } });
  return { type: 'float', rank: ctx.inputs[0].rank, name };
};

/** y[…, f, …] = Σ_g W[g, f]·x[…, g, …] (+ bias[f]) along `axis`: W on the left of a MatMul. */
const denseOnAxis: OpHandler = (ctx) => {
  const rank = rankOrFail(ctx);
  const k = ctx.attrInt('axis');
  const w = ctx.constant(1, 'weights');
  const [g, f] = w.shape;
  const wt = new Float32Array(g * f);
  const src = w.data as Float32Array;
  for (let i = 0; i < g; i++) for (let j = 0; j < f; j++) wt[j * g + i] = src[i * f + j];
  const left = ctx.b.init('w', DataType.FLOAT, [f, g], wt);
  let y: string;
  if (k === rank - 2) {
    y = ctx.b.op('MatMul', [left, ctx.tensor(0)]);
  } else {
    // Merge the axes after k so that axis k is second to last; 0 keeps a leading dimension.
    const zeros = Array<number>(k).fill(0);
    const flat = ctx.b.op('Reshape', [ctx.tensor(0), ctx.b.i64([...zeros, g, -1])]);
    const prod = ctx.b.op('MatMul', [left, flat]);
    const trailing = ctx.b.op('Slice', [ctx.b.op('Shape', [ctx.tensor(0)]), ctx.b.i64([k + 1]), ctx.b.i64([BIG])]);
    y = ctx.b.op('Reshape', [prod, ctx.b.op('Concat', [ctx.b.i64([...zeros, f]), trailing], { axis: 0 })]);
  }
  if (ctx.inputs.length > 2) y = ctx.b.op('Add', [y, reshapedConst(ctx, 2, [f, ...Array<number>(rank - 1 - k).fill(1)])]);
  return { type: 'float', rank, name: y };
};

/** y[n, i, j, c] = Σ_h Σ_w Mh[h, i]·Mw[w, j]·x[n, h, w, c], for x in NHWC: two MatMuls, no transposes. */
const separableResize: OpHandler = (ctx) => {
  const x = ctx.tensor(0);
  const mwT = ctx.b.op('Transpose', [ctx.tensor(2)], { perm: [1, 0] });
  const mhT = ctx.b.op('Transpose', [ctx.tensor(1)], { perm: [1, 0] });
  const alongW = ctx.b.op('MatMul', [mwT, x]);
  const rows = ctx.b.op('Reshape', [alongW, ctx.b.i64([0, 0, -1])]);
  const alongH = ctx.b.op('MatMul', [mhT, rows]);
  const wc = ctx.b.op('Slice', [ctx.b.op('Shape', [alongW]), ctx.b.i64([2]), ctx.b.i64([4])]);
  const shape = ctx.b.op('Concat', [ctx.b.i64([0, -1]), wc], { axis: 0 });
  return { type: 'float', rank: 4, name: ctx.b.op('Reshape', [alongH, shape]) };
};

export const FUSED_OPS: Record<string, OpHandler> = {
  [FUSED.gelu]: (ctx) => ({ type: 'float', rank: ctx.inputs[0].rank, name: ctx.b.op('Gelu', [ctx.tensor(0)], { approximate: 'tanh' }) }),
  [FUSED.layerNorm]: layerNorm,
  [FUSED.denseOnAxis]: denseOnAxis,
  [FUSED.resize]: separableResize,
  [FUSED.leakyRelu]: (ctx) => ({
    type: 'float',
    rank: ctx.inputs[0].rank,
    name: ctx.b.op('LeakyRelu', [ctx.tensor(0)], { alpha: { float: ctx.attr('alpha')?.f ?? ctx.fail('attribute alpha is missing') } }),
  }),
};
