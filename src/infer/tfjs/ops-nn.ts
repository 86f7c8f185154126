// Convolutions and Einsum. TensorFlow convolves NHWC with [kh, kw, in, out] filters; ONNX
// convolves NCHW with [out, in, kh, kw]: filters are rearranged once at import, activations are
// transposed around each convolution (onnxruntime's optimizer cancels the transposes between
// neighbouring layers and folds the rest into its blocked-layout reorders).
import { DataType } from '../graph-builder.js';
import type { OpHandler } from './ops-elementwise.js';
import type { ConstData, OpContext, Value } from './values.js';

/** Reorders a constant 4-D tensor: out[d[perm[0]], …] = in[d[0], d[1], d[2], d[3]]. */
export function permute4(c: ConstData, perm: number[]): ConstData {
  const s = c.shape;
  const outShape = perm.map((p) => s[p]);
  const src = c.data as Float32Array;
  const out = new Float32Array(src.length);
  const inStride = [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
  const st = perm.map((p) => inStride[p]);
  let o = 0;
  for (let a = 0; a < outShape[0]; a++)
    for (let b = 0; b < outShape[1]; b++) for (let c2 = 0; c2 < outShape[2]; c2++) for (let d = 0; d < outShape[3]; d++) out[o++] = src[a * st[0] + b * st[1] + c2 * st[2] + d * st[3]];
  return { shape: outShape, data: out };
}

/** The filter in ONNX order: permuted at import when constant, by a Transpose node otherwise. */
function filter(ctx: OpContext, perm: number[]): { name: string; shape?: number[] } {
  const f = ctx.inputs[1];
  if (f.rank !== undefined && f.rank !== 4) ctx.fail(`its filter must be 4-D, it has ${f.rank} dimensions`);
  if (f.value) {
    const p = permute4(f.value, perm);
    return { name: ctx.b.init('w', DataType.FLOAT, p.shape, p.data as Float32Array), shape: p.shape };
  }
  return { name: ctx.b.op('Transpose', [ctx.tensor(1)], { perm }) };
}

function layout(ctx: OpContext): { nhwc: boolean; hw: [number, number] } {
  const fmt = ctx.attrString('data_format', 'NHWC');
  if (fmt !== 'NHWC' && fmt !== 'NCHW') ctx.fail(`data_format ${fmt} is not supported`);
  return fmt === 'NHWC' ? { nhwc: true, hw: [1, 2] } : { nhwc: false, hw: [2, 3] };
}

function spatial(ctx: OpContext, name: string, hw: [number, number], fallback: number): [number, number] {
  const v = ctx.attrInts(name);
  return v.length === 4 ? [v[hw[0]], v[hw[1]]] : [fallback, fallback];
}

const toNchw = (ctx: OpContext, x: string) => ctx.b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
const toNhwc = (ctx: OpContext, x: string) => ctx.b.op('Transpose', [x], { perm: [0, 2, 3, 1] });

const conv2d: OpHandler = (ctx) => {
  const { nhwc, hw } = layout(ctx);
  const strides = spatial(ctx, 'strides', hw, 1);
  const dilations = spatial(ctx, 'dilations', hw, 1);
  const f = ctx.inputs[1].value;
  const padding = ctx.attrString('padding');
  // A 1×1 convolution of NHWC is a MatMul over the channels: no transposes at all.
  if (nhwc && f && f.shape[0] === 1 && f.shape[1] === 1 && strides.every((s) => s === 1) && padding !== 'EXPLICIT')
    return { type: 'float', rank: 4, name: ctx.b.op('MatMul', [ctx.tensor(0), ctx.tensor({ type: 'float', value: { shape: f.shape.slice(2), data: f.data } })]) };
  const w = filter(ctx, [3, 2, 0, 1]);
  const attrs: Record<string, number[] | string> = { strides, dilations };
  if (w.shape) attrs.kernel_shape = w.shape.slice(2);
  if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
  else if (padding === 'VALID') attrs.pads = [0, 0, 0, 0];
  else if (padding === 'EXPLICIT') {
    const p = ctx.attrInts('explicit_paddings');
    attrs.pads = [p[2 * hw[0]], p[2 * hw[1]], p[2 * hw[0] + 1], p[2 * hw[1] + 1]];
  } else ctx.fail(`padding ${padding} is not supported`);
  const x = nhwc ? toNchw(ctx, ctx.tensor(0)) : ctx.tensor(0);
  const y = ctx.b.op('Conv', [x, w.name], attrs);
  return { type: 'float', rank: 4, name: nhwc ? toNhwc(ctx, y) : y };
};

/**
 * The transposed convolution. Its output size (input 0) is taken to be the one the stride and
 * kernel imply, (in − 1)·s + k for VALID and in·s for SAME, which is what conv2d_transpose makes.
 */
const conv2dBackpropInput: OpHandler = (ctx) => {
  const { nhwc, hw } = layout(ctx);
  const strides = spatial(ctx, 'strides', hw, 1);
  const dilations = spatial(ctx, 'dilations', hw, 1);
  if (!ctx.inputs[1].value) ctx.fail('its filter must be a constant');
  // TensorFlow [kh, kw, out, in] → ONNX ConvTranspose [in, out, kh, kw].
  const w = filter(ctx, [3, 2, 0, 1]);
  const k = w.shape!.slice(2);
  const padding = ctx.attrString('padding');
  const attrs: Record<string, number[]> = { strides, dilations, kernel_shape: k };
  if (padding === 'SAME') {
    const total = k.map((kk, i) => Math.max((kk - 1) * dilations[i] + 1 - strides[i], 0));
    attrs.pads = [Math.floor(total[0] / 2), Math.floor(total[1] / 2), total[0] - Math.floor(total[0] / 2), total[1] - Math.floor(total[1] / 2)];
  } else if (padding !== 'VALID') ctx.fail(`padding ${padding} is not supported`);
  const x = nhwc ? toNchw(ctx, ctx.tensor(2)) : ctx.tensor(2);
  const y = ctx.b.op('ConvTranspose', [x, w.name], attrs);
  return { type: 'float', rank: 4, name: nhwc ? toNhwc(ctx, y) : y };
};

export interface EinsumPlan {
  /** permutation of the operand that becomes MatMul's left side, to [free…, contracted] */
  left: { operand: 0 | 1; perm: number[] };
  /** permutation of the other operand, to [contracted, free] */
  right: { operand: 0 | 1; perm: number[] };
  /** permutation of MatMul's result to the equation's output order */
  out: number[];
}

/**
 * Einsum as one MatMul between transposes, for equations with a single contracted index, no
 * batch index, and at most one free index on one side: the dense projections
 * (abcg,gf->abcf) and the separable resize matrices (gb,cgef->bcef, abgd,gf->abdf) of jax2tf.
 */
export function planEinsum(equation: string): EinsumPlan | string {
  const m = /^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]*)$/.exec(equation.replace(/\s/g, ''));
  if (!m) return 'only two-operand equations with an explicit output are supported';
  const [, a, b, o] = m;
  for (const s of [a, b, o]) if (new Set(s).size !== s.length) return 'a repeated index within one operand (a trace or diagonal) is not supported';
  const contracted = [...a].filter((c) => b.includes(c) && !o.includes(c));
  const batch = [...a].filter((c) => b.includes(c) && o.includes(c));
  const freeA = [...a].filter((c) => !b.includes(c));
  const freeB = [...b].filter((c) => !a.includes(c));
  if ([...o].some((c) => !a.includes(c) && !b.includes(c))) return 'an output index that no operand has';
  if ([...a, ...b].some((c) => !o.includes(c) && !contracted.includes(c))) return 'an index summed within one operand is not supported';
  if (batch.length) return 'batch indices (in both operands and the output) are not supported';
  if (contracted.length !== 1) return 'exactly one contracted index is supported';
  const k = contracted[0];
  // The side with at most one free index becomes MatMul's right-hand matrix.
  const sides = freeB.length <= 1 ? { l: 0 as const, r: 1 as const } : freeA.length <= 1 ? { l: 1 as const, r: 0 as const } : null;
  if (!sides) return 'both operands have several free indices';
  const str = [a, b];
  const free = [freeA, freeB];
  const resultOrder = [...free[sides.l], ...free[sides.r]];
  return {
    left: { operand: sides.l, perm: [...free[sides.l], k].map((c) => str[sides.l].indexOf(c)) },
    right: { operand: sides.r, perm: [k, ...free[sides.r]].map((c) => str[sides.r].indexOf(c)) },
    out: [...o].map((c) => resultOrder.indexOf(c)),
  };
}

const identity = (perm: number[]) => perm.every((p, i) => p === i);

const einsum: OpHandler = (ctx) => {
  const eq = ctx.attrString('equation');
  if (ctx.inputs.length !== 2) ctx.fail(`equation ${eq}: only two operands are supported`);
  const planned = planEinsum(eq);
  const plan = typeof planned === 'string' ? ctx.fail(`equation ${eq}: ${planned}`) : planned;
  const side = (s: { operand: 0 | 1; perm: number[] }) => {
    const v: Value = ctx.inputs[s.operand];
    if (identity(s.perm)) return ctx.tensor(v);
    if (v.value && v.value.shape.length === 2) return ctx.tensor({ type: 'float', value: transpose2(v.value) });
    return ctx.b.op('Transpose', [ctx.tensor(v)], { perm: s.perm });
  };
  let y = ctx.b.op('MatMul', [side(plan.left), side(plan.right)]);
  if (!identity(plan.out)) y = ctx.b.op('Transpose', [y], { perm: plan.out });
  return { type: 'float', rank: plan.out.length, name: y };
};

function transpose2(c: ConstData): ConstData {
  const [r, k] = c.shape;
  const src = c.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) out[j * r + i] = src[i * k + j];
  return { shape: [k, r], data: out };
}

export const NN_OPS: Record<string, OpHandler> = {
  Conv2D: conv2d,
  Conv2DBackpropInput: conv2dBackpropInput,
  Einsum: einsum,
};
