// Tiny TensorFlow.js graph models for parity checks: the same model.json and weights run in
// TensorFlow.js itself (CPU backend, the oracle) and through the importer in onnxruntime.
import * as tf from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import type { TfAttr } from '../../src/infer/tfjs/graph-model.ts';
import { parseGraphModel } from '../../src/infer/tfjs/graph-model.ts';
import { convertGraphModel } from '../../src/infer/tfjs/convert.ts';
import { encodeModel } from '../../src/infer/onnx-proto.ts';
import { seededRandom } from '../../src/infer/builtin-model.ts';

export type Dtype = 'float32' | 'int32' | 'bool';
export type Data = number[] | Float32Array | Int32Array | Uint8Array;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: Data;
}

/** A float32 weight stored quantized, as the TensorFlow.js converter writes it: value = q·scale + min. */
export interface Quantized {
  quantization: { dtype: 'uint8' | 'uint16'; scale: number; min: number };
}

export interface GraphSpec {
  /** placeholders, fed at run time (shape given to TensorFlow.js as fully dynamic unless `static`) */
  inputs: Record<string, Tensor & { static?: boolean }>;
  /** constants; a quantized one holds the stored integers in `data` */
  consts?: Record<string, Tensor | (Tensor & Quantized)>;
  nodes: { name: string; op: string; inputs: string[]; attr?: Record<string, TfAttr> }[];
  outputs: string[];
}

const DT: Record<Dtype, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' };

export const attr = {
  i: (v: number): TfAttr => ({ i: String(v) }),
  s: (v: string): TfAttr => ({ s: Buffer.from(v).toString('base64') }),
  b: (v: boolean): TfAttr => ({ b: v }),
  ints: (v: number[]): TfAttr => ({ list: { i: v.map(String) } }),
  type: (d: Dtype): TfAttr => ({ type: DT[d] }),
};

/** A tensor for a graph spec. */
export function t(dtype: Dtype, shape: number[], data: Data): Tensor {
  return { dtype, shape, data };
}

const rand = seededRandom(42);
/** Uniform floats in [lo, hi). */
export function randn(shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return t(
    'float32',
    shape,
    Float32Array.from({ length: n }, () => lo + (hi - lo) * rand()),
  );
}
export function randi(shape: number[], lo: number, hi: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return t(
    'int32',
    shape,
    Int32Array.from({ length: n }, () => lo + Math.floor((hi - lo) * rand())),
  );
}

export function buildModelJson(spec: GraphSpec): { json: object; weightData: ArrayBuffer } {
  const weights: { name: string; shape: number[]; dtype: Dtype; quantization?: Quantized['quantization'] }[] = [];
  const chunks: Uint8Array[] = [];
  const nodes: object[] = [];
  for (const [name, v] of Object.entries(spec.inputs)) {
    const dims = v.shape.map((d) => ({ size: String(v.static ? d : -1) }));
    nodes.push({ name, op: 'Placeholder', attr: { dtype: { type: DT[v.dtype] }, shape: { shape: { dim: dims } } } });
  }
  for (const [name, v] of Object.entries(spec.consts ?? {})) {
    nodes.push({ name, op: 'Const', attr: { dtype: { type: DT[v.dtype] }, value: { tensor: { dtype: DT[v.dtype], tensorShape: {} } } } });
    const q = 'quantization' in v ? v.quantization : undefined;
    weights.push({ name, shape: v.shape, dtype: v.dtype, ...(q ? { quantization: q } : {}) });
    const typed = q
      ? q.dtype === 'uint8'
        ? Uint8Array.from(v.data)
        : Uint16Array.from(v.data)
      : v.dtype === 'float32'
        ? Float32Array.from(v.data)
        : v.dtype === 'int32'
          ? Int32Array.from(v.data)
          : Uint8Array.from(v.data);
    chunks.push(new Uint8Array(typed.buffer));
  }
  for (const n of spec.nodes) nodes.push({ name: n.name, op: n.op, input: n.inputs, attr: n.attr ?? {} });
  const total = chunks.reduce((a, c) => a + c.byteLength, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    weightData.set(c, off);
    off += c.byteLength;
  }
  const json = {
    format: 'graph-model',
    modelTopology: { node: nodes, library: {}, versions: {} },
    signature: {
      inputs: Object.fromEntries(Object.keys(spec.inputs).map((k) => [k, { name: `${k}:0` }])),
      outputs: Object.fromEntries(spec.outputs.map((o, i) => [`out${i}`, { name: `${o}:0` }])),
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }],
  };
  return { json, weightData: weightData.buffer };
}

export interface Result {
  shape: number[];
  data: number[];
}

let backendReady: Promise<boolean> | null = null;

export async function runTfjs(spec: GraphSpec): Promise<Result[]> {
  backendReady ??= tf.setBackend('cpu');
  await backendReady;
  const { json, weightData } = buildModelJson(spec);
  const j = json as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[]; signature: object };
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: j.modelTopology, weightSpecs: j.weightsManifest[0].weights, weightData, signature: j.signature }));
  const feeds: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(spec.inputs)) feeds[`${name}:0`] = tf.tensor(Array.from(v.data), v.shape, v.dtype);
  const outs = (await model.executeAsync(
    feeds,
    spec.outputs.map((o) => `${o}:0`),
  )) as tf.Tensor | tf.Tensor[];
  const list = Array.isArray(outs) ? outs : [outs];
  const res = await Promise.all(list.map(async (o) => ({ shape: o.shape, data: Array.from(await o.data()) as number[] })));
  tf.dispose([...list, ...Object.values(feeds)]);
  model.dispose();
  return res;
}

export function toOnnx(spec: GraphSpec): Uint8Array {
  const { json, weightData } = buildModelJson(spec);
  const model = parseGraphModel(JSON.parse(JSON.stringify(json)), () => new Uint8Array(weightData), 'test graph');
  return encodeModel(convertGraphModel(model, { io: 'plain', where: 'test graph' }));
}

export async function runOnnx(spec: GraphSpec): Promise<Result[]> {
  const session = await ort.InferenceSession.create(toOnnx(spec));
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of Object.entries(spec.inputs)) {
    if (v.dtype === 'float32') feeds[name] = new ort.Tensor('float32', Float32Array.from(v.data), v.shape);
    else if (v.dtype === 'int32')
      feeds[name] = new ort.Tensor(
        'int64',
        BigInt64Array.from(Array.from(v.data), (x) => BigInt(x)),
        v.shape,
      );
    else feeds[name] = new ort.Tensor('bool', Uint8Array.from(v.data), v.shape);
  }
  const out = await session.run(feeds);
  await session.release();
  return spec.outputs.map((_, i) => {
    const o = out[`output_${i}`];
    return { shape: o.dims.map(Number), data: Array.from(o.data as ArrayLike<number | bigint | boolean>, Number) };
  });
}

/** Largest absolute difference between TensorFlow.js and the ONNX import (shapes must match). */
export async function parity(spec: GraphSpec): Promise<{ maxDiff: number; tfjs: Result[]; onnx: Result[] }> {
  const [a, b] = [await runTfjs(spec), await runOnnx(spec)];
  let maxDiff = 0;
  a.forEach((r, i) => {
    if (JSON.stringify(r.shape) !== JSON.stringify(b[i].shape)) throw new Error(`output ${i}: tfjs shape ${JSON.stringify(r.shape)}, onnx ${JSON.stringify(b[i].shape)}`);
    r.data.forEach((v, k) => {
      const d = Math.abs(v - b[i].data[k]);
      maxDiff = Math.max(maxDiff, Number.isNaN(d) ? Infinity : d);
    });
  });
  return { maxDiff, tfjs: a, onnx: b };
}
