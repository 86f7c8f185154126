// The fused imports (one ONNX kernel for what jax2tf wrote as a chain of ops) against
// TensorFlow.js running the original, unfused ops; and the fusion must really happen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attr, parity, randn, t, toOnnx, type GraphSpec } from './tfjs-harness.ts';
import { decodeModel } from '../../src/infer/onnx-proto.ts';

const F = { T: attr.type('float32') };
const I = { T: attr.type('int32') };

function opTypes(spec: GraphSpec): string[] {
  return (decodeModel(toOnnx(spec)).graph!.node ?? []).map((n) => n.opType!);
}

const gelu: GraphSpec = {
  inputs: { x: randn([1, 4, 5, 8], -4, 4) },
  consts: { half: t('float32', [], [0.5]), a: t('float32', [], [0.044715]), s: t('float32', [], [Math.sqrt(2 / Math.PI)]), one: t('float32', [], [1]) },
  nodes: [
    { name: 'm6', op: 'Mul', inputs: ['half', 'x'], attr: F },
    { name: 'm', op: 'Mul', inputs: ['a', 'x'], attr: F },
    { name: 'sq', op: 'Square', inputs: ['x'], attr: F },
    { name: 'm4', op: 'Mul', inputs: ['m', 'sq'], attr: F },
    { name: 'sum', op: 'AddV2', inputs: ['x', 'm4'], attr: F },
    { name: 'm5', op: 'Mul', inputs: ['s', 'sum'], attr: F },
    { name: 'th', op: 'Tanh', inputs: ['m5'], attr: F },
    { name: 'a1', op: 'AddV2', inputs: ['one', 'th'], attr: F },
    { name: 'y', op: 'Mul', inputs: ['m6', 'a1'], attr: F },
  ],
  outputs: ['y'],
};

/** flax LayerNorm as jax2tf writes it, with the mean reshaped to a run-time [N, H, W, 1]. */
const C = 8;
const shrink = { ...I, Index: attr.type('int32'), shrink_axis_mask: attr.i(1), begin_mask: attr.i(0), end_mask: attr.i(0), ellipsis_mask: attr.i(0), new_axis_mask: attr.i(0) };
const layerNorm: GraphSpec = {
  // A large mean makes E[x²] − E[x]² and E[(x − mean)²] part ways if anything is off.
  inputs: { x: randn([2, 3, 5, C], 1, 3) },
  consts: {
    axis: t('int32', [1], [3]),
    inv: t('float32', [], [1 / C]),
    zero: t('float32', [], [0]),
    eps: t('float32', [], [1e-6]),
    gamma: randn([1, 1, 1, C], 0.5, 1.5),
    beta: randn([1, 1, 1, C]),
    b0: t('int32', [1], [0]),
    e0: t('int32', [1], [1]),
    b1: t('int32', [1], [1]),
    e1: t('int32', [1], [2]),
    b2: t('int32', [1], [2]),
    e2: t('int32', [1], [3]),
    st: t('int32', [1], [1]),
    one: t('int32', [], [1]),
  },
  nodes: [
    { name: 'shape', op: 'Shape', inputs: ['x'], attr: { ...F, out_type: attr.type('int32') } },
    { name: 'n', op: 'StridedSlice', inputs: ['shape', 'b0', 'e0', 'st'], attr: shrink },
    { name: 'h', op: 'StridedSlice', inputs: ['shape', 'b1', 'e1', 'st'], attr: shrink },
    { name: 'w', op: 'StridedSlice', inputs: ['shape', 'b2', 'e2', 'st'], attr: shrink },
    { name: 'kept', op: 'Pack', inputs: ['n', 'h', 'w', 'one'], attr: { ...I, N: attr.i(4), axis: attr.i(0) } },
    { name: 's1', op: 'Sum', inputs: ['x', 'axis'], attr: { ...F, Tidx: attr.type('int32'), keep_dims: attr.b(false) } },
    { name: 'mean', op: 'Mul', inputs: ['s1', 'inv'], attr: F },
    { name: 'sq', op: 'Square', inputs: ['x'], attr: F },
    { name: 's2', op: 'Sum', inputs: ['sq', 'axis'], attr: { ...F, Tidx: attr.type('int32'), keep_dims: attr.b(false) } },
    { name: 'msq', op: 'Mul', inputs: ['s2', 'inv'], attr: F },
    { name: 'meanR', op: 'Reshape', inputs: ['mean', 'kept'], attr: { ...F, Tshape: attr.type('int32') } },
    { name: 'xc', op: 'Sub', inputs: ['x', 'meanR'], attr: F },
    { name: 'mean2', op: 'Square', inputs: ['mean'], attr: F },
    { name: 'var', op: 'Sub', inputs: ['msq', 'mean2'], attr: F },
    { name: 'varM', op: 'Maximum', inputs: ['zero', 'var'], attr: F },
    { name: 'varR', op: 'Reshape', inputs: ['varM', 'kept'], attr: { ...F, Tshape: attr.type('int32') } },
    { name: 've', op: 'AddV2', inputs: ['varR', 'eps'], attr: F },
    { name: 'r', op: 'Rsqrt', inputs: ['ve'], attr: F },
    { name: 'g', op: 'Mul', inputs: ['r', 'gamma'], attr: F },
    { name: 'y0', op: 'Mul', inputs: ['xc', 'g'], attr: F },
    { name: 'y', op: 'AddV2', inputs: ['y0', 'beta'], attr: F },
  ],
  outputs: ['y'],
};

/** swapaxes → Dense over the last axis → swapaxes back (MAXIM's gating units). */
function denseOnAxis(perm: number[], shape: number[], g: number, f: number): GraphSpec {
  return {
    inputs: { x: randn(shape) },
    consts: { p: t('int32', [4], perm), w: randn([g, f]), bias: randn([1, 1, 1, f]) },
    nodes: [
      { name: 't1', op: 'Transpose', inputs: ['x', 'p'], attr: { ...F, Tperm: attr.type('int32') } },
      { name: 'e', op: 'Einsum', inputs: ['t1', 'w'], attr: { ...F, N: attr.i(2), equation: attr.s('abcg,gf->abcf') } },
      { name: 'b', op: 'AddV2', inputs: ['e', 'bias'], attr: F },
      { name: 'y', op: 'Transpose', inputs: ['b', 'p'], attr: { ...F, Tperm: attr.type('int32') } },
    ],
    outputs: ['y'],
  };
}

const resize: GraphSpec = {
  inputs: { x: randn([1, 4, 6, 3]), mh: randn([4, 8]), mw: randn([6, 12]) },
  consts: { p: t('int32', [4], [1, 0, 3, 2]) },
  nodes: [
    { name: 'e1', op: 'Einsum', inputs: ['mh', 'x'], attr: { ...F, N: attr.i(2), equation: attr.s('gb,cgef->bcef') } },
    { name: 'e2', op: 'Einsum', inputs: ['e1', 'mw'], attr: { ...F, N: attr.i(2), equation: attr.s('abgd,gf->abdf') } },
    { name: 'y', op: 'Transpose', inputs: ['e2', 'p'], attr: { ...F, Tperm: attr.type('int32') } },
  ],
  outputs: ['y'],
};

const leakyRelu: GraphSpec = {
  inputs: {
    x: t(
      'float32',
      [2, 3, 4, 5],
      Float32Array.from({ length: 120 }, (_, i) => (i % 7) - 3 + (i % 3) * 0.25),
    ),
  },
  consts: { zero: t('float32', [], [0]), alpha: t('float32', [], [0.2]) },
  nodes: [
    { name: 'ge', op: 'GreaterEqual', inputs: ['x', 'zero'], attr: F },
    { name: 'm', op: 'Mul', inputs: ['alpha', 'x'], attr: F },
    { name: 'y', op: 'SelectV2', inputs: ['ge', 'x', 'm'], attr: F },
  ],
  outputs: ['y'],
};

const CASES: [string, GraphSpec, (ops: string[]) => void][] = [
  ['leaky ReLU (where x >= 0) becomes one LeakyRelu', leakyRelu, (ops) => assert.deepEqual(ops, ['LeakyRelu', 'Identity'])],
  ['GELU (tanh approximation) becomes one Gelu', gelu, (ops) => assert.deepEqual(ops, ['Gelu', 'Identity'])],
  [
    'LayerNorm becomes one LayerNormalization',
    layerNorm,
    (ops) =>
      assert.deepEqual(
        ops.filter((o) => o !== 'Identity'),
        ['LayerNormalization'],
      ),
  ],
  ['Dense along axis 1 (swapaxes 1↔3) needs no Transpose', denseOnAxis([0, 3, 2, 1], [1, 6, 4, 5], 6, 6), (ops) => assert.ok(!ops.includes('Transpose'), ops.join())],
  ['Dense along axis 2 (swapaxes 2↔3), another width, needs no Transpose', denseOnAxis([0, 1, 3, 2], [2, 3, 5, 4], 5, 7), (ops) => assert.ok(!ops.includes('Transpose'), ops.join())],
  ['separable resize (two einsums and a transpose) transposes only its small matrices', resize, (ops) => assert.equal(ops.filter((o) => o === 'Transpose').length, 2, ops.join())],
];

for (const [name, spec, check] of CASES) {
  test(`${name}, and matches TensorFlow.js on the original ops`, async () => {
    check(opTypes(spec));
    const { maxDiff } = await parity(spec);
    assert.ok(maxDiff <= 1e-4, `max abs diff ${maxDiff}`);
  });
}

test('a near miss is not fused: a GELU-like chain with another constant stays op by op and still matches', async () => {
  const other: GraphSpec = { ...gelu, consts: { ...gelu.consts, a: t('float32', [], [0.05]) } };
  const ops = opTypes(other);
  assert.ok(!ops.includes('Gelu') && ops.includes('Tanh'), ops.join());
  const { maxDiff } = await parity(other);
  assert.ok(maxDiff <= 1e-4, `max abs diff ${maxDiff}`);
});

test('an inner node that feeds something else keeps the chain unfused', async () => {
  const shared: GraphSpec = { ...gelu, outputs: ['y', 'th'] };
  const ops = opTypes(shared);
  assert.ok(!ops.includes('Gelu'), ops.join());
  const { maxDiff } = await parity(shared);
  assert.ok(maxDiff <= 1e-4, `max abs diff ${maxDiff}`);
});
