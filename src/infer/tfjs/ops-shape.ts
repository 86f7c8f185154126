// TensorFlow's shape, indexing and reduction ops. Shapes computed at run time (jax2tf's
// shape-polymorphic exports compute them from the input's height and width) stay ONNX tensors.
import { DataType } from '../graph-builder.js';
import type { OpHandler } from './ops-elementwise.js';
import { ONNX_BOOL, type OpContext, type Value } from './values.js';

/** Stands for "to the end" in ONNX Slice bounds (clamped there); exact in a double. */
const BIG = Number.MAX_SAFE_INTEGER;

function i64(ctx: OpContext, values: number[]): string {
  return ctx.b.i64(values);
}

function bits(mask: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => (mask >> i) & 1);
}

function vectorLength(ctx: OpContext, i: number, what: string): number {
  const v = ctx.inputs[i];
  const n = v.length ?? (v.value?.shape.length === 1 ? v.value.shape[0] : undefined);
  return n ?? ctx.fail(`the length of its ${what} is not known at import time`);
}

function unsqueeze(ctx: OpContext, x: string, axes: number[]): string {
  return ctx.b.op('Unsqueeze', [x, i64(ctx, axes)]);
}

const pack: OpHandler = (ctx) => {
  const axis = ctx.attrInt('axis', 0);
  const first = ctx.inputs[0];
  // Shape vectors are mostly packs of constants and run-time sizes: fold the all-constant ones.
  if (axis === 0 && ctx.inputs.every((v) => v.value && v.value.shape.length === 0)) {
    const data = ctx.inputs.map((v) => v.value!.data[0]);
    return {
      type: first.type,
      rank: 1,
      length: data.length,
      value: { shape: [data.length], data: first.type === 'float' ? Float32Array.from(data) : first.type === 'int' ? Int32Array.from(data) : Uint8Array.from(data) },
    };
  }
  // A constant scalar becomes a one-element vector here rather than an Unsqueeze node.
  const parts = ctx.inputs.map((v, i) =>
    v.value && v.value.shape.length === 0 && axis === 0 ? ctx.tensor({ ...v, name: undefined, value: { shape: [1], data: v.value.data } }) : unsqueeze(ctx, ctx.tensor(i), [axis]),
  );
  const rank = first.rank === undefined ? undefined : first.rank + 1;
  const name = parts.length === 1 ? parts[0] : ctx.b.op('Concat', parts, { axis });
  return { type: first.type, rank, length: rank === 1 ? parts.length : undefined, name };
};

const concat: OpHandler = (ctx) => {
  const n = ctx.inputs.length - 1;
  const axis = ctx.constInts(n, 'axis')[0];
  const parts = ctx.inputs.slice(0, n);
  const lengths = parts.map((v) => v.length ?? (v.value?.shape.length === 1 ? v.value.shape[0] : undefined));
  const length = parts[0].rank === 1 && lengths.every((l) => l !== undefined) ? lengths.reduce((a, b) => a! + b!, 0) : undefined;
  const name =
    n === 1
      ? ctx.tensor(0)
      : ctx.b.op(
          'Concat',
          parts.map((_, i) => ctx.tensor(i)),
          { axis },
        );
  return { type: parts[0].type, rank: parts[0].rank, length, name };
};

const stridedSlice: OpHandler = (ctx) => {
  const x = ctx.inputs[0];
  if (ctx.attrInt('ellipsis_mask', 0) || ctx.attrInt('new_axis_mask', 0)) ctx.fail('ellipsis_mask and new_axis_mask are not supported');
  const n = vectorLength(ctx, 1, 'begin');
  const strides = ctx.constInts(3, 'strides');
  const beginMask = bits(ctx.attrInt('begin_mask', 0), n);
  const endMask = bits(ctx.attrInt('end_mask', 0), n);
  const shrink = bits(ctx.attrInt('shrink_axis_mask', 0), n);
  const begin = ctx.inputs[1];
  const end = ctx.inputs[2];

  // Masked bounds mean "from the start" / "to the end" in the stride's direction.
  const startOverride = new Map(beginMask.map((i) => [i, strides[i] > 0 ? 0 : BIG]));
  const endOverride = new Map(endMask.map((i) => [i, strides[i] > 0 ? BIG : -BIG]));
  let starts: string;
  let ends: string;
  if (begin.value) {
    const b = Array.from(begin.value.data);
    starts = i64(
      ctx,
      b.map((v, i) => startOverride.get(i) ?? v),
    );
    // A shrunk axis takes one element: [b, b+1), where b = −1 means the last one.
    for (const i of shrink) endOverride.set(i, b[i] === -1 ? BIG : b[i] + 1);
  } else {
    starts = withOverrides(ctx, ctx.tensor(1), startOverride, n);
  }
  if (end.value) {
    ends = i64(
      ctx,
      Array.from(end.value.data).map((v, i) => endOverride.get(i) ?? v),
    );
  } else {
    ends = withOverrides(ctx, ctx.tensor(2), endOverride, n);
  }
  if (!begin.value && shrink.length > 0) {
    const b = ctx.tensor(1);
    const one = ctx.b.op('Add', [b, i64(ctx, [1])]);
    const shrinkEnd = ctx.b.op('Where', [ctx.b.op('Equal', [b, i64(ctx, [-1])]), i64(ctx, [BIG]), one]);
    const mask = ctx.b.op(
      'Cast',
      [
        ctx.b.init(
          'm',
          DataType.UINT8,
          [n],
          Uint8Array.from({ length: n }, (_, i) => (shrink.includes(i) ? 1 : 0)),
        ),
      ],
      { to: ONNX_BOOL },
    );
    ends = ctx.b.op('Where', [mask, shrinkEnd, ends]);
  }
  const axes = i64(
    ctx,
    Array.from({ length: n }, (_, i) => i),
  );
  const unit = strides.every((s) => s === 1);
  let y = ctx.b.op('Slice', [ctx.tensor(0), starts, ends, axes, ...(unit ? [] : [i64(ctx, strides)])]);
  if (shrink.length) y = ctx.b.op('Squeeze', [y, i64(ctx, shrink)]);
  return { type: x.type, rank: x.rank === undefined ? undefined : x.rank - shrink.length, name: y };
};

/** A run-time index vector with some positions replaced by constants. */
function withOverrides(ctx: OpContext, v: string, overrides: Map<number, number>, n: number): string {
  if (overrides.size === 0) return v;
  const mask = Uint8Array.from({ length: n }, (_, i) => (overrides.has(i) ? 1 : 0));
  const fill = Array.from({ length: n }, (_, i) => overrides.get(i) ?? 0);
  const m = ctx.b.op('Cast', [ctx.b.init('m', DataType.UINT8, [n], mask)], { to: ONNX_BOOL });
  return ctx.b.op('Where', [m, i64(ctx, fill), v]);
}

const sum: OpHandler = (ctx) => {
  const x = ctx.inputs[0];
  const keep = ctx.attr('keep_dims')?.b === true;
  const axesIn = ctx.inputs[1];
  let axes: string;
  let removed: number | undefined;
  if (axesIn.value) {
    const a = Array.from(axesIn.value.data);
    axes = i64(ctx, a);
    removed = new Set(a.map((v) => (v < 0 && x.rank !== undefined ? v + x.rank : v))).size;
  } else {
    axes = ctx.b.op('Reshape', [ctx.tensor(1), i64(ctx, [-1])]);
  }
  const name = ctx.b.op('ReduceSum', [ctx.tensor(0), axes], { keepdims: keep ? 1 : 0, noop_with_empty_axes: 1 });
  const rank = x.rank === undefined ? undefined : keep ? x.rank : removed === undefined ? undefined : x.rank - removed;
  return { type: x.type, rank, name };
};

export const SHAPE_OPS: Record<string, OpHandler> = {
  Shape: (ctx) => ({ type: 'int', rank: 1, length: ctx.inputs[0].rank, name: ctx.b.op('Shape', [ctx.tensor(0)]) }),
  Reshape: (ctx) => {
    const n = ctx.inputs[1].length ?? ctx.inputs[1].value?.shape[0];
    // allowzero: a 0 in a TensorFlow shape means an empty dimension, not "copy the input's".
    return { type: ctx.inputs[0].type, rank: n, name: ctx.b.op('Reshape', [ctx.tensor(0), ctx.tensor(1)], { allowzero: 1 }) };
  },
  Transpose: (ctx) => {
    const perm = ctx.constInts(1, 'perm');
    return { type: ctx.inputs[0].type, rank: perm.length, name: ctx.b.op('Transpose', [ctx.tensor(0)], { perm }) };
  },
  Pack: pack,
  ConcatV2: concat,
  ExpandDims: (ctx) => {
    const axis = ctx.constInts(1, 'axis')[0];
    const x = ctx.inputs[0];
    return { type: x.type, rank: x.rank === undefined ? undefined : x.rank + 1, length: x.rank === 0 ? 1 : undefined, name: unsqueeze(ctx, ctx.tensor(0), [axis]) };
  },
  Squeeze: (ctx) => {
    const dims = ctx.attrInts('squeeze_dims');
    const x = ctx.inputs[0];
    if (dims.length === 0) return { type: x.type, name: ctx.b.op('Squeeze', [ctx.tensor(0)]) };
    return { type: x.type, rank: x.rank === undefined ? undefined : x.rank - dims.length, name: ctx.b.op('Squeeze', [ctx.tensor(0), i64(ctx, dims)]) };
  },
  StridedSlice: stridedSlice,
  BroadcastTo: (ctx) => ({
    type: ctx.inputs[0].type,
    rank: ctx.inputs[1].length ?? ctx.inputs[1].value?.shape[0],
    name: ctx.b.op('Expand', [ctx.tensor(0), ctx.tensor(1)]),
  }),
  Range: (ctx) => ({ type: ctx.inputs[0].type, rank: 1, name: ctx.b.op('Range', [ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)]) }),
  GatherV2: (ctx) => {
    if (ctx.attrInt('batch_dims', 0) !== 0) ctx.fail('batch_dims other than 0 is not supported');
    const axis = ctx.constInts(2, 'axis')[0];
    const [p, idx] = ctx.inputs;
    const rank = p.rank !== undefined && idx.rank !== undefined ? p.rank + idx.rank - 1 : undefined;
    return { type: p.type, rank, name: ctx.b.op('Gather', [ctx.tensor(0), ctx.tensor(1)], { axis }) };
  },
  Sum: sum,
};

export type { Value };
