// Reads a TensorFlow.js graph model (model.json: a JSON GraphDef plus a weights manifest, and
// its binary weight shards) without TensorFlow.js: the importer only needs the nodes and the numbers.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';

/** An attribute value as the converter writes it: the JSON form of TensorFlow's AttrValue proto. */
export interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[] };
  shape?: unknown;
  tensor?: unknown;
}

export interface TfNode {
  name: string;
  op: string;
  /** data inputs as "node" or "node:k" (control inputs, "^node", are dropped) */
  inputs: string[];
  attr: Record<string, TfAttr>;
}

export type TfDtype = 'float32' | 'int32' | 'bool';

export interface TfWeight {
  name: string;
  dtype: TfDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface TfGraphModel {
  nodes: TfNode[];
  weights: Map<string, TfWeight>;
  /** graph input tensors ("name:0"), from the signature or the Placeholder nodes */
  inputs: string[];
  /** graph output tensors, from the signature */
  outputs: string[];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

export interface GraphModelJson {
  format?: string;
  signature?: { inputs?: Record<string, { name: string }>; outputs?: Record<string, { name: string }> };
  modelTopology: { node: { name: string; op: string; input?: string[]; attr?: Record<string, TfAttr> }[] };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2 };

/** Decodes one weight from its bytes (which the caller has checked are long enough). */
function decodeWeight(spec: WeightSpec, bytes: Uint8Array, where: string): TfWeight {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const copy = (n: number) => bytes.slice(0, n).buffer;
  const q = spec.quantization;
  if (q) {
    if (!(q.dtype in QUANT_BYTES) || typeof q.scale !== 'number' || typeof q.min !== 'number' || spec.dtype !== 'float32')
      throw new ModelError(`${where}: weight ${spec.name} is ${spec.dtype} with ${q.dtype} quantization, which the importer does not read (only float32 as affine uint8/uint16)`);
    const raw = q.dtype === 'uint8' ? new Uint8Array(copy(count)) : new Uint16Array(copy(count * 2));
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = raw[i] * q.scale + q.min;
    return { name: spec.name, dtype: 'float32', shape: spec.shape, data };
  }
  if (spec.dtype === 'float32') return { name: spec.name, dtype: 'float32', shape: spec.shape, data: new Float32Array(copy(count * 4)) };
  if (spec.dtype === 'int32') return { name: spec.name, dtype: 'int32', shape: spec.shape, data: new Int32Array(copy(count * 4)) };
  if (spec.dtype === 'bool') return { name: spec.name, dtype: 'bool', shape: spec.shape, data: new Uint8Array(copy(count)) };
  throw new ModelError(`${where}: weight ${spec.name} has dtype ${spec.dtype}, which the importer does not read (float32, int32, bool)`);
}

function byteLength(spec: WeightSpec): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization) return count * (QUANT_BYTES[spec.quantization.dtype] ?? 1);
  return count * (spec.dtype === 'bool' ? 1 : 4);
}

function checkJson(raw: unknown, where: string): GraphModelJson {
  const j = raw as Partial<GraphModelJson>;
  if (!j || typeof j !== 'object' || !Array.isArray(j.modelTopology?.node)) throw new ModelError(`${where} is not a TensorFlow.js graph model (it has no modelTopology.node list)`);
  if (!Array.isArray(j.weightsManifest) || !j.weightsManifest.every((g) => Array.isArray(g?.paths) && Array.isArray(g?.weights)))
    throw new ModelError(`${where} is not a TensorFlow.js graph model (it has no valid weightsManifest)`);
  for (const g of j.weightsManifest)
    for (const w of g.weights)
      if (typeof w?.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0))
        throw new ModelError(`${where}: weightsManifest has a malformed entry (${JSON.stringify(w).slice(0, 80)})`);
  return j as GraphModelJson;
}

/**
 * Builds the model from its parsed JSON and the contents of each manifest group (the group's
 * shards concatenated in order), as TensorFlow.js itself lays them out.
 */
export function parseGraphModel(raw: unknown, groupBytes: (group: number, paths: string[]) => Uint8Array, where = 'model.json'): TfGraphModel {
  const json = checkJson(raw, where);
  const weights = new Map<string, TfWeight>();
  json.weightsManifest.forEach((group, gi) => {
    const bytes = groupBytes(gi, group.paths);
    const need = group.weights.reduce((n, w) => n + byteLength(w), 0);
    if (bytes.byteLength !== need)
      throw new ModelError(`${where}: the weight shards ${group.paths.join(', ')} hold ${bytes.byteLength} bytes but the manifest describes ${need} (a truncated or corrupt shard?)`);
    let offset = 0;
    for (const spec of group.weights) {
      const n = byteLength(spec);
      weights.set(spec.name, decodeWeight(spec, bytes.subarray(offset, offset + n), where));
      offset += n;
    }
  });

  const nodes: TfNode[] = json.modelTopology.node.map((n) => {
    if (typeof n?.name !== 'string' || typeof n.op !== 'string') throw new ModelError(`${where}: a node without a name or op (${JSON.stringify(n).slice(0, 80)})`);
    return { name: n.name, op: n.op, inputs: (n.input ?? []).filter((i) => !i.startsWith('^')), attr: n.attr ?? {} };
  });
  const sigIn = Object.values(json.signature?.inputs ?? {}).map((v) => v.name);
  const sigOut = Object.values(json.signature?.outputs ?? {}).map((v) => v.name);
  const inputs = sigIn.length ? sigIn : nodes.filter((n) => n.op === 'Placeholder').map((n) => `${n.name}:0`);
  if (sigOut.length === 0) throw new ModelError(`${where}: the model's signature names no outputs`);
  return { nodes, weights, inputs, outputs: sigOut };
}

/** Reads model.json and its shards from disk (a model.json path, or the folder that holds it). */
export function readGraphModel(location: string): TfGraphModel {
  const isFolder = existsSync(location) ? statSync(location).isDirectory() : !location.endsWith('.json');
  const file = isFolder ? path.join(location, 'model.json') : location;
  if (!existsSync(file)) throw new ModelError(`TensorFlow.js model ${file} is missing`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelError(`TensorFlow.js model ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const dir = path.dirname(file);
  return parseGraphModel(
    raw,
    (_, paths) => {
      const parts = paths.map((p) => {
        const shard = path.join(dir, p);
        if (!existsSync(shard)) throw new ModelError(`weight shard ${shard} (listed in ${file}) is missing`);
        return readFileSync(shard);
      });
      return parts.length === 1 ? new Uint8Array(parts[0].buffer, parts[0].byteOffset, parts[0].byteLength) : new Uint8Array(Buffer.concat(parts));
    },
    file,
  );
}
