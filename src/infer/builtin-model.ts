// A small built-in model made by the graph builder: a few convolutions with seeded weights.
// It removes no rain; it exists so that every part of the pipeline runs and is tested with
// nothing downloaded. Its residual is small, so its output stays close to the input.
import { GraphBuilder, DataType } from './graph-builder.js';
import { decodeModel, encodeModel, type ModelProto } from './onnx-proto.js';

export const BUILTIN_NAME = 'builtin-tiny';
export const BUILTIN_MULTIPLE = 4;

/** The built-in models by name: the tiny default, and one that costs what a real model costs (for the bench). */
export const BUILTIN_MODELS: Record<string, BuiltinOptions> = {
  'builtin-tiny': {},
  'builtin-medium': { width: 48, depth: 8 },
};

/** mulberry32: a tiny seeded generator, so the weights are the same on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BuiltinOptions {
  /** feature channels of the hidden layers */
  width?: number;
  /** number of 3×3 convolutions at half resolution */
  depth?: number;
  seed?: number;
  /** largest residual it can return, in [0,1] units (small: the output stays near the input) */
  residualScale?: number;
}

export function buildBuiltinModel(opts: BuiltinOptions = {}): ModelProto {
  const width = opts.width ?? 8;
  const depth = opts.depth ?? 1;
  const rand = seededRandom(opts.seed ?? 1);
  const b = new GraphBuilder('builtin');

  const conv = (x: string, cin: number, cout: number, k: number, stride = 1, act = true): string => {
    const n = cout * cin * k * k;
    const scale = Math.sqrt(2 / (cin * k * k));
    const w = new Float32Array(n).map(() => (rand() * 2 - 1) * scale);
    const bias = new Float32Array(cout).map(() => (rand() * 2 - 1) * 0.05);
    const p = (k - 1) / 2;
    const y = b.op('Conv', [x, b.f32(w, [cout, cin, k, k]), b.f32(bias)], {
      kernel_shape: [k, k],
      pads: [p, p, p, p],
      strides: [stride, stride],
    });
    return act ? b.op('Relu', [y]) : y;
  };

  const x = b.input('input', DataType.FLOAT, [1, 3, 'height', 'width']);
  let f = conv(x, 3, width, 3);
  f = conv(f, width, width, 3, 2);
  for (let i = 0; i < depth; i++) f = conv(f, width, width, 3);
  f = conv(f, width, width, 3, 2);
  // Two nearest ×2 upsamplings bring the features back: hence the size multiple of 4.
  const up = (t: string) => b.op('Resize', [t, b.f32([]), b.f32([1, 1, 2, 2])], { mode: 'nearest' });
  f = up(up(f));
  const r = conv(f, width, 3, 3, 1, false);
  const out = b.op('Mul', [b.op('Tanh', [r]), b.f32([opts.residualScale ?? 0.02], [])]);
  b.rename(out, 'residual');
  b.output('residual', DataType.FLOAT, [1, 3, 'height', 'width']);
  // Round-trip through bytes so callers get an independent copy they may consume.
  return decodeModel(encodeModel(b.toModel(13)));
}
