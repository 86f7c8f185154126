// Every op kind of the MAXIM deraining graph, with the attributes it uses there, imported to
// ONNX and run in onnxruntime against TensorFlow.js itself (CPU backend) on small random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { attr, parity, randi, randn, t, type GraphSpec, type Tensor } from './tfjs-harness.ts';
import { ROOT } from '../helpers.ts';
import { SUPPORTED_OPS } from '../../src/infer/tfjs/convert.ts';

const F = { T: attr.type('float32') };
const I = { T: attr.type('int32') };
const TOL = 1e-4;

function binary(op: string, a: Tensor, b: Tensor): GraphSpec {
  return { inputs: { a, b }, nodes: [{ name: 'y', op, inputs: ['a', 'b'], attr: { T: attr.type(a.dtype) } }], outputs: ['y'] };
}
function unary(op: string, x: Tensor, extra: Record<string, ReturnType<typeof attr.i>> = {}): GraphSpec {
  return { inputs: { x }, nodes: [{ name: 'y', op, inputs: ['x'], attr: { T: attr.type(x.dtype), ...extra } }], outputs: ['y'] };
}
/** Floats with exact ties, so comparisons see equal values too. */
const steps = (shape: number[]) => {
  const r = randi(shape, -3, 4);
  return t(
    'float32',
    shape,
    Float32Array.from(r.data as Int32Array, (v) => v / 2),
  );
};
const nonzero = (shape: number[]) => {
  const r = randi(shape, 1, 8);
  return t(
    'int32',
    shape,
    Int32Array.from(r.data as Int32Array, (v, i) => (i % 2 ? -v : v)),
  );
};
const dynamicDim = (x: string, index: number, name: string) => [
  { name: `${name}_shape`, op: 'Shape', inputs: [x], attr: { T: attr.type('float32'), out_type: attr.type('int32') } },
  {
    name,
    op: 'StridedSlice',
    inputs: [`${name}_shape`, 'ss_b' + index, 'ss_e' + index, 'ss_s'],
    attr: { ...I, Index: attr.type('int32'), shrink_axis_mask: attr.i(1), begin_mask: attr.i(0), end_mask: attr.i(0), ellipsis_mask: attr.i(0), new_axis_mask: attr.i(0) },
  },
];
const dimConsts = (index: number) => ({ [`ss_b${index}`]: t('int32', [1], [index]), [`ss_e${index}`]: t('int32', [1], [index + 1]), ss_s: t('int32', [1], [1]) });
const conv = (padding: string, stride: number) => ({
  ...F,
  padding: attr.s(padding),
  strides: attr.ints([1, stride, stride, 1]),
  data_format: attr.s('NHWC'),
  dilations: attr.ints([1, 1, 1, 1]),
  explicit_paddings: attr.ints([]),
});
const slice = (masks: Partial<Record<'begin_mask' | 'end_mask' | 'shrink_axis_mask', number>>, T: ReturnType<typeof attr.type>) => ({
  T,
  Index: attr.type('int32'),
  begin_mask: attr.i(masks.begin_mask ?? 0),
  end_mask: attr.i(masks.end_mask ?? 0),
  shrink_axis_mask: attr.i(masks.shrink_axis_mask ?? 0),
  ellipsis_mask: attr.i(0),
  new_axis_mask: attr.i(0),
});

export const CASES: Record<string, GraphSpec> = {
  'AddV2 float, broadcast': binary('AddV2', randn([2, 3, 4, 5]), randn([1, 1, 1, 5])),
  'AddV2 int': binary('AddV2', randi([6], -9, 9), randi([6], -9, 9)),
  'Sub float': binary('Sub', randn([2, 3, 4, 5]), randn([2, 1, 4, 1])),
  'Sub int': binary('Sub', randi([6], -9, 9), randi([], -9, 9)),
  'Mul float': binary('Mul', randn([2, 3, 4, 5]), randn([])),
  'Mul int': binary('Mul', randi([6], -9, 9), randi([6], -9, 9)),
  'RealDiv float': binary('RealDiv', randn([3, 4]), randn([3, 1], 0.5, 2)),
  'Maximum float': binary('Maximum', randn([2, 3, 4, 5]), randn([])),
  'Maximum int': binary('Maximum', randi([6], -9, 9), randi([6], -9, 9)),
  'Minimum int': binary('Minimum', randi([6], -9, 9), randi([6], -9, 9)),
  'FloorMod int, negative operands': binary('FloorMod', randi([16], -20, 20), nonzero([16])),
  'FloorDiv int, negative operands': binary('FloorDiv', randi([16], -20, 20), nonzero([16])),
  'GreaterEqual float': binary('GreaterEqual', steps([4, 5]), steps([1, 5])),
  'LessEqual float': binary('LessEqual', steps([4, 5]), steps([4, 1])),
  'Greater float': binary('Greater', steps([4, 5]), steps([])),
  'Less int': binary('Less', randi([8], -3, 3), randi([8], -3, 3)),
  'NotEqual float': binary('NotEqual', steps([4, 5]), steps([4, 5])),
  'NotEqual int': binary('NotEqual', randi([8], -2, 2), randi([8], -2, 2)),
  'LogicalAnd (of comparisons)': {
    inputs: { a: steps([4, 5]), b: steps([4, 5]) },
    consts: { z: t('float32', [], [0]) },
    nodes: [
      { name: 'p', op: 'GreaterEqual', inputs: ['a', 'z'], attr: F },
      { name: 'q', op: 'LessEqual', inputs: ['b', 'z'], attr: F },
      { name: 'y', op: 'LogicalAnd', inputs: ['p', 'q'] },
    ],
    outputs: ['y'],
  },
  'SelectV2 float, broadcast': {
    inputs: { a: steps([4, 5]), x: randn([1, 5]), y: randn([4, 1]) },
    consts: { z: t('float32', [], [0]) },
    nodes: [
      { name: 'c', op: 'Greater', inputs: ['a', 'z'], attr: F },
      { name: 'out', op: 'SelectV2', inputs: ['c', 'x', 'y'], attr: F },
    ],
    outputs: ['out'],
  },
  'SelectV2 int': {
    inputs: { a: randi([6], -3, 3), x: randi([6], -9, 9), y: randi([], -9, 9) },
    consts: { z: t('int32', [], [0]) },
    nodes: [
      { name: 'c', op: 'Less', inputs: ['a', 'z'], attr: I },
      { name: 'out', op: 'SelectV2', inputs: ['c', 'x', 'y'], attr: I },
    ],
    outputs: ['out'],
  },
  'Square float': unary('Square', randn([3, 4, 5])),
  'Rsqrt float': unary('Rsqrt', randn([3, 4, 5], 0.05, 3)),
  'Reciprocal float': unary('Reciprocal', randn([3, 4], 0.5, 2)),
  'Neg float': unary('Neg', randn([3, 4])),
  'Abs float': unary('Abs', randn([3, 4])),
  'Sign float (with zeros)': unary('Sign', steps([4, 5])),
  'Sign int': unary('Sign', randi([8], -3, 3)),
  'Floor float': unary('Floor', randn([4, 5], -3, 3)),
  'Exp float': unary('Exp', randn([4, 5], -3, 3)),
  'Tanh float': unary('Tanh', randn([4, 5], -3, 3)),
  'Identity float': unary('Identity', randn([4, 5])),
  'Cast int to float': unary('Cast', randi([6], -9, 9), { SrcT: attr.type('int32'), DstT: attr.type('float32'), Truncate: attr.b(false) }),
  'Cast float to int (truncates)': unary('Cast', randn([12], -5, 5), { SrcT: attr.type('float32'), DstT: attr.type('int32'), Truncate: attr.b(false) }),

  // Not in the MAXIM graph, but common and supported: checked the same way.
  'Add float': binary('Add', randn([2, 3]), randn([3])),
  'Div float': binary('Div', randn([2, 3]), randn([3], 0.5, 2)),
  'Div int (floors, as TensorFlow.js does)': binary('Div', randi([8], -20, 20), nonzero([8])),
  'Pow float': binary('Pow', randn([2, 3], 0.1, 2), randn([2, 3])),
  'SquaredDifference float': binary('SquaredDifference', randn([2, 3]), randn([1, 3])),
  'Equal int': binary('Equal', randi([8], -2, 2), randi([8], -2, 2)),
  'Sqrt float': unary('Sqrt', randn([3, 4], 0, 4)),
  'Log float': unary('Log', randn([3, 4], 0.1, 4)),
  'Sigmoid float': unary('Sigmoid', randn([3, 4], -4, 4)),
  'Relu float': unary('Relu', randn([3, 4])),
  'Erf float': unary('Erf', randn([3, 4], -2, 2)),
  'StopGradient float': unary('StopGradient', randn([3, 4])),
  'LogicalOr, LogicalNot (of comparisons)': {
    inputs: { a: steps([4, 5]), b: steps([4, 5]) },
    consts: { z: t('float32', [], [0]) },
    nodes: [
      { name: 'p', op: 'Greater', inputs: ['a', 'z'], attr: F },
      { name: 'q', op: 'Less', inputs: ['b', 'z'], attr: F },
      { name: 'y', op: 'LogicalOr', inputs: ['p', 'q'] },
      { name: 'n', op: 'LogicalNot', inputs: ['p'] },
    ],
    outputs: ['y', 'n'],
  },

  'Shape, StridedSlice shrink_axis, Mul, Pack, Reshape (a run-time shape)': {
    inputs: { x: randn([2, 3, 4, 5]) },
    consts: { ...dimConsts(1), ...dimConsts(2), two: t('int32', [], [2]), c: t('int32', [], [10]) },
    nodes: [
      ...dynamicDim('x', 1, 'h'),
      ...dynamicDim('x', 2, 'w'),
      { name: 'hw', op: 'Mul', inputs: ['h', 'w'], attr: I },
      { name: 'half', op: 'FloorDiv', inputs: ['hw', 'two'], attr: I },
      { name: 'shape', op: 'Pack', inputs: ['half', 'c', 'two'], attr: { ...I, N: attr.i(3), axis: attr.i(0) } },
      { name: 'y', op: 'Reshape', inputs: ['x', 'shape'], attr: { ...F, Tshape: attr.type('int32') } },
    ],
    outputs: ['y', 'shape'],
  },
  'Reshape float, constant shape with -1': {
    inputs: { x: randn([2, 3, 4]) },
    consts: { s: t('int32', [2], [-1, 4]) },
    nodes: [{ name: 'y', op: 'Reshape', inputs: ['x', 's'], attr: { ...F, Tshape: attr.type('int32') } }],
    outputs: ['y'],
  },
  'Reshape bool, Reshape int': {
    inputs: { x: steps([2, 6]), k: randi([2, 6], -5, 5) },
    consts: { z: t('float32', [], [0]), s: t('int32', [3], [3, 2, 2]) },
    nodes: [
      { name: 'c', op: 'Greater', inputs: ['x', 'z'], attr: F },
      { name: 'y', op: 'Reshape', inputs: ['c', 's'], attr: { T: attr.type('bool'), Tshape: attr.type('int32') } },
      { name: 'yk', op: 'Reshape', inputs: ['k', 's'], attr: { ...I, Tshape: attr.type('int32') } },
    ],
    outputs: ['y', 'yk'],
  },
  'Transpose 6-D (block partition)': {
    inputs: { x: randn([1, 2, 3, 2, 3, 4]) },
    consts: { p: t('int32', [6], [0, 1, 3, 2, 4, 5]) },
    nodes: [{ name: 'y', op: 'Transpose', inputs: ['x', 'p'], attr: { ...F, Tperm: attr.type('int32') } }],
    outputs: ['y'],
  },
  'Transpose 4-D (swapaxes)': {
    inputs: { x: randn([2, 3, 4, 5]) },
    consts: { p: t('int32', [4], [0, 3, 2, 1]), q: t('int32', [4], [1, 0, 3, 2]), r: t('int32', [4], [0, 1, 3, 2]) },
    nodes: [
      { name: 'y', op: 'Transpose', inputs: ['x', 'p'], attr: { ...F, Tperm: attr.type('int32') } },
      { name: 'y2', op: 'Transpose', inputs: ['x', 'q'], attr: { ...F, Tperm: attr.type('int32') } },
      { name: 'y3', op: 'Transpose', inputs: ['x', 'r'], attr: { ...F, Tperm: attr.type('int32') } },
    ],
    outputs: ['y', 'y2', 'y3'],
  },
  'Pack int scalars, run-time and constant': {
    inputs: { a: randi([], 1, 9), b: randi([], 1, 9) },
    consts: { c: t('int32', [], [7]) },
    nodes: [{ name: 'y', op: 'Pack', inputs: ['a', 'c', 'b', 'c'], attr: { ...I, N: attr.i(4), axis: attr.i(0) } }],
    outputs: ['y'],
  },
  'ConcatV2 float, channel axis': {
    inputs: { a: randn([1, 3, 4, 2]), b: randn([1, 3, 4, 5]) },
    consts: { axis: t('int32', [], [-1]), axis3: t('int32', [], [3]) },
    nodes: [
      { name: 'y', op: 'ConcatV2', inputs: ['a', 'b', 'axis'], attr: { ...F, N: attr.i(2), Tidx: attr.type('int32') } },
      { name: 'y3', op: 'ConcatV2', inputs: ['b', 'a', 'b', 'axis3'], attr: { ...F, N: attr.i(3), Tidx: attr.type('int32') } },
    ],
    outputs: ['y', 'y3'],
  },
  'ExpandDims int scalar, BroadcastTo float/int/bool to a run-time shape, Range': {
    inputs: { x: randn([1, 5]), n: randi([], 2, 6), k: randi([1], -3, 3) },
    consts: { ax: t('int32', [], [0]), five: t('int32', [1], [5]), zero: t('int32', [], [0]), one: t('int32', [], [1]), fz: t('float32', [], [0]) },
    nodes: [
      { name: 'n1', op: 'ExpandDims', inputs: ['n', 'ax'], attr: { ...I, Tdim: attr.type('int32') } },
      { name: 'shape', op: 'ConcatV2', inputs: ['n1', 'five', 'zero'], attr: { ...I, N: attr.i(2), Tidx: attr.type('int32') } },
      { name: 'y', op: 'BroadcastTo', inputs: ['x', 'shape'], attr: { ...F, Tidx: attr.type('int32') } },
      { name: 'r', op: 'Range', inputs: ['zero', 'n', 'one'], attr: { Tidx: attr.type('int32') } },
      { name: 'rb', op: 'BroadcastTo', inputs: ['k', 'n1'], attr: { ...I, Tidx: attr.type('int32') } },
      { name: 'c', op: 'Greater', inputs: ['x', 'fz'], attr: F },
      { name: 'cb', op: 'BroadcastTo', inputs: ['c', 'shape'], attr: { T: attr.type('bool'), Tidx: attr.type('int32') } },
    ],
    outputs: ['y', 'r', 'rb', 'cb'],
  },
  'Squeeze int, last axis': {
    inputs: { x: randi([3, 1], -5, 5) },
    nodes: [{ name: 'y', op: 'Squeeze', inputs: ['x'], attr: { ...I, squeeze_dims: attr.ints([-1]) } }],
    outputs: ['y'],
  },
  'StridedSlice float, constant begin, run-time end (gating split)': {
    inputs: { x: randn([1, 4, 6, 8]) },
    consts: { ...dimConsts(1), ...dimConsts(2), b: t('int32', [4], [0, 0, 0, 4]), s: t('int32', [4], [1, 1, 1, 1]), one: t('int32', [], [1]), eight: t('int32', [], [8]) },
    nodes: [
      ...dynamicDim('x', 1, 'h'),
      ...dynamicDim('x', 2, 'w'),
      { name: 'e', op: 'Pack', inputs: ['one', 'h', 'w', 'eight'], attr: { ...I, N: attr.i(4), axis: attr.i(0) } },
      { name: 'y', op: 'StridedSlice', inputs: ['x', 'b', 'e', 's'], attr: slice({}, attr.type('float32')) },
    ],
    outputs: ['y'],
  },
  'StridedSlice begin_mask, end_mask, stride 2': {
    inputs: { x: randn([5, 6, 7]) },
    consts: { b: t('int32', [3], [1, 1, 9]), e: t('int32', [3], [4, 5, 5]), s: t('int32', [3], [2, 1, 1]) },
    nodes: [{ name: 'y', op: 'StridedSlice', inputs: ['x', 'b', 'e', 's'], attr: slice({ begin_mask: 4, end_mask: 1 }, attr.type('float32')) }],
    outputs: ['y'],
  },
  'StridedSlice shrink_axis in the middle, end_mask': {
    inputs: { x: randn([5, 6, 7]) },
    consts: { b: t('int32', [3], [1, 2, 0]), e: t('int32', [3], [4, 3, 5]), s: t('int32', [3], [1, 1, 1]) },
    nodes: [{ name: 'y', op: 'StridedSlice', inputs: ['x', 'b', 'e', 's'], attr: slice({ shrink_axis_mask: 2, end_mask: 1 }, attr.type('float32')) }],
    outputs: ['y'],
  },
  'StridedSlice negative stride': {
    inputs: { x: randn([5, 6]) },
    consts: { b: t('int32', [2], [4, 0]), e: t('int32', [2], [0, 6]), s: t('int32', [2], [-2, 1]) },
    nodes: [{ name: 'y', op: 'StridedSlice', inputs: ['x', 'b', 'e', 's'], attr: slice({ end_mask: 1 }, attr.type('float32')) }],
    outputs: ['y'],
  },
  'StridedSlice run-time begin with shrink_axis': {
    inputs: { x: randn([5, 6]), i: { ...t('int32', [1], [-1]), static: true }, j: { ...t('int32', [1], [2]), static: true } },
    consts: { e: t('int32', [1], [0]), s: t('int32', [1], [1]) },
    nodes: [
      { name: 'y', op: 'StridedSlice', inputs: ['x', 'i', 'e', 's'], attr: slice({ shrink_axis_mask: 1 }, attr.type('float32')) },
      { name: 'y2', op: 'StridedSlice', inputs: ['x', 'j', 'e', 's'], attr: slice({ shrink_axis_mask: 1 }, attr.type('float32')) },
    ],
    outputs: ['y', 'y2'],
  },
  'GatherV2 float along an image axis': {
    inputs: { x: randn([1, 6, 5, 3]), i: t('int32', [4], [0, 2, 5, 2]) },
    consts: { ax: t('int32', [], [1]) },
    nodes: [{ name: 'y', op: 'GatherV2', inputs: ['x', 'i', 'ax'], attr: { Tparams: attr.type('float32'), Tindices: attr.type('int32'), Taxis: attr.type('int32'), batch_dims: attr.i(0) } }],
    outputs: ['y'],
  },
  'Sum float over the channel axis and over rows': {
    inputs: { x: randn([2, 3, 4, 16]), m: randn([6, 5]) },
    consts: { ax: t('int32', [1], [3]), ax0: t('int32', [1], [0]) },
    nodes: [
      { name: 'y', op: 'Sum', inputs: ['x', 'ax'], attr: { ...F, Tidx: attr.type('int32'), keep_dims: attr.b(false) } },
      { name: 'y2', op: 'Sum', inputs: ['m', 'ax0'], attr: { ...F, Tidx: attr.type('int32'), keep_dims: attr.b(false) } },
    ],
    outputs: ['y', 'y2'],
  },
  'Conv2D SAME 3x3, stride 1': {
    inputs: { x: randn([1, 7, 9, 4]) },
    consts: { w: randn([3, 3, 4, 6], -0.5, 0.5) },
    nodes: [{ name: 'y', op: 'Conv2D', inputs: ['x', 'w'], attr: conv('SAME', 1) }],
    outputs: ['y'],
  },
  'Conv2D VALID 1x1': {
    inputs: { x: randn([1, 5, 6, 8]) },
    consts: { w: randn([1, 1, 8, 3], -0.5, 0.5) },
    nodes: [{ name: 'y', op: 'Conv2D', inputs: ['x', 'w'], attr: conv('VALID', 1) }],
    outputs: ['y'],
  },
  'Conv2D SAME 3x3, stride 2, even and odd sizes': {
    inputs: { x: randn([1, 8, 8, 4]), x2: randn([1, 7, 9, 4]) },
    consts: { w: randn([3, 3, 4, 5], -0.5, 0.5) },
    nodes: [
      { name: 'y', op: 'Conv2D', inputs: ['x', 'w'], attr: conv('SAME', 2) },
      { name: 'y2', op: 'Conv2D', inputs: ['x2', 'w'], attr: conv('SAME', 2) },
    ],
    outputs: ['y', 'y2'],
  },
  'Conv2DBackpropInput VALID 2x2, stride 2, run-time output size': {
    inputs: { x: randn([1, 3, 5, 6]) },
    consts: { ...dimConsts(1), ...dimConsts(2), w: randn([2, 2, 4, 6], -0.5, 0.5), one: t('int32', [], [1]), two: t('int32', [], [2]), four: t('int32', [], [4]) },
    nodes: [
      ...dynamicDim('x', 1, 'h'),
      ...dynamicDim('x', 2, 'w_'),
      { name: 'h2', op: 'Mul', inputs: ['h', 'two'], attr: I },
      { name: 'w2', op: 'Mul', inputs: ['w_', 'two'], attr: I },
      { name: 'size', op: 'Pack', inputs: ['one', 'h2', 'w2', 'four'], attr: { ...I, N: attr.i(4), axis: attr.i(0) } },
      { name: 'y', op: 'Conv2DBackpropInput', inputs: ['size', 'w', 'x'], attr: { ...conv('VALID', 2), use_cudnn_on_gpu: attr.b(true) } },
    ],
    outputs: ['y'],
  },
  'Einsum abcg,gf->abcf (dense projection)': {
    inputs: { x: randn([1, 3, 4, 8]) },
    consts: { w: randn([8, 5]) },
    nodes: [{ name: 'y', op: 'Einsum', inputs: ['x', 'w'], attr: { ...F, N: attr.i(2), equation: attr.s('abcg,gf->abcf') } }],
    outputs: ['y'],
  },
  'Einsum gb,cgef->bcef and abgd,gf->abdf (separable resize)': {
    inputs: { x: randn([1, 4, 6, 3]), mh: randn([4, 8]), mw: randn([6, 12]) },
    nodes: [
      { name: 'y1', op: 'Einsum', inputs: ['mh', 'x'], attr: { ...F, N: attr.i(2), equation: attr.s('gb,cgef->bcef') } },
      { name: 'y2', op: 'Einsum', inputs: ['y1', 'mw'], attr: { ...F, N: attr.i(2), equation: attr.s('abgd,gf->abdf') } },
    ],
    outputs: ['y1', 'y2'],
  },
};

for (const [name, spec] of Object.entries(CASES)) {
  test(`${name}: onnxruntime matches TensorFlow.js`, async () => {
    const { maxDiff, tfjs } = await parity(spec);
    assert.ok(maxDiff <= TOL, `max abs diff ${maxDiff} > ${TOL}`);
    assert.ok(
      tfjs.every((r) => r.data.length > 0),
      'every output has values',
    );
  });
}

test('quantized weights (affine uint8 and uint16) are read as TensorFlow.js reads them', async () => {
  const spec: GraphSpec = {
    inputs: { x: randn([2, 5]) },
    consts: {
      a: { ...randi([5], 0, 256), dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1.2 } },
      b: { ...randi([5], 0, 65536), dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.0001, min: -3 } },
    },
    nodes: [
      { name: 'ya', op: 'Mul', inputs: ['x', 'a'], attr: F },
      { name: 'y', op: 'AddV2', inputs: ['ya', 'b'], attr: F },
    ],
    outputs: ['y'],
  };
  const { maxDiff, onnx } = await parity(spec);
  assert.ok(maxDiff <= TOL, `max abs diff ${maxDiff}`);
  assert.ok(
    onnx[0].data.some((v) => Math.abs(v) > 0.5),
    'the weights are not all zero',
  );
});

test('the cases cover every op, Einsum equation, StridedSlice mask and Conv2D padding/stride of the MAXIM graph', () => {
  const file = path.join(ROOT, 'node_modules', '@upscalerjs', 'maxim-deraining', 'models', 'model.json');
  const nodes = JSON.parse(readFileSync(file, 'utf8')).modelTopology.node as { op: string; attr?: Record<string, { s?: string; i?: string; list?: { i?: string[] } }> }[];
  const tested = Object.values(CASES).flatMap((c) => c.nodes);
  const s = (n: { attr?: Record<string, { s?: string }> }, k: string) => Buffer.from(n.attr?.[k]?.s ?? '', 'base64').toString();
  const masks = (n: { attr?: Record<string, { i?: string }> }) => ['begin_mask', 'end_mask', 'shrink_axis_mask', 'ellipsis_mask', 'new_axis_mask'].map((k) => Number(n.attr?.[k]?.i ?? 0)).join(',');
  const convKey = (n: (typeof nodes)[number]) => `${n.op}:${s(n, 'padding')}:${(n.attr?.strides?.list?.i ?? []).join(',')}`;
  const kinds = (list: typeof nodes) => ({
    ops: new Set(list.map((n) => n.op).filter((op) => op !== 'Const' && op !== 'Placeholder')),
    einsum: new Set(list.filter((n) => n.op === 'Einsum').map((n) => s(n, 'equation'))),
    slices: new Set(list.filter((n) => n.op === 'StridedSlice').map(masks)),
    convs: new Set(list.filter((n) => n.op.startsWith('Conv2D')).map(convKey)),
  });
  const model = kinds(nodes);
  const ours = kinds(tested as typeof nodes);
  for (const k of ['ops', 'einsum', 'slices', 'convs'] as const) {
    const missing = [...model[k]].filter((x) => !ours[k].has(x));
    assert.deepEqual(missing, [], `${k} of the MAXIM graph without a parity case`);
  }
  assert.ok(model.ops.size >= 40, `read the real graph (${model.ops.size} op kinds)`);
});

test('every op the importer supports has a parity case', () => {
  const tested = new Set(Object.values(CASES).flatMap((c) => c.nodes.map((n) => n.op)));
  assert.deepEqual(
    SUPPORTED_OPS.filter((op) => op !== 'Const' && op !== 'Placeholder' && !tested.has(op)),
    [],
  );
});
