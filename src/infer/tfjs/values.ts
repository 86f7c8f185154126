// What the importer knows about each TensorFlow tensor while it writes the ONNX graph.
import { DataType, type GraphBuilder } from '../graph-builder.js';
import type { TfAttr, TfNode } from './graph-model.js';

/** TensorFlow's int32 becomes ONNX int64 throughout: ONNX wants int64 for every shape and index. */
export type VType = 'float' | 'int' | 'bool';

export const ONNX_BOOL = 9;

export interface ConstData {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface Value {
  type: VType;
  /** the ONNX tensor, once it exists (constants get one only when a node needs them as a tensor) */
  name?: string;
  /** static rank, when known */
  rank?: number;
  /** static length of a 1-D value (shape vectors, slice bounds), when known */
  length?: number;
  /** the value itself, for constants */
  value?: ConstData;
}

export function onnxType(t: VType): number {
  return t === 'float' ? DataType.FLOAT : t === 'int' ? DataType.INT64 : ONNX_BOOL;
}

export function tfType(dtype: string | undefined): VType | undefined {
  switch (dtype) {
    case 'DT_FLOAT':
      return 'float';
    case 'DT_INT32':
    case 'DT_INT64':
      return 'int';
    case 'DT_BOOL':
      return 'bool';
    default:
      return undefined;
  }
}

/** A node failed to convert: the message names the node and the op; the converter adds the model. */
export class ConvertError extends Error {}

/** Everything an op handler needs: its node, its inputs, the builder, and a way to name its output. */
export class OpContext {
  constructor(
    readonly node: TfNode,
    readonly inputs: Value[],
    readonly b: GraphBuilder,
  ) {}

  fail(why: string): never {
    throw new ConvertError(`${this.node.op} node ${this.node.name}: ${why}`);
  }

  attr(name: string): TfAttr | undefined {
    return this.node.attr[name];
  }

  attrInt(name: string, fallback?: number): number {
    const a = this.attr(name);
    if (a?.i !== undefined) return Number(a.i);
    if (fallback !== undefined) return fallback;
    if (a && Object.keys(a).length === 0) return 0; // proto3 JSON drops zero values
    return this.fail(`attribute ${name} is missing`);
  }

  attrInts(name: string): number[] {
    return (this.attr(name)?.list?.i ?? []).map(Number);
  }

  attrString(name: string, fallback?: string): string {
    const s = this.attr(name)?.s;
    if (s !== undefined) return Buffer.from(s, 'base64').toString('utf8');
    if (fallback !== undefined) return fallback;
    return this.fail(`attribute ${name} is missing`);
  }

  attrType(name: string): VType {
    const t = tfType(this.attr(name)?.type);
    return t ?? this.fail(`attribute ${name} has type ${this.attr(name)?.type ?? '(none)'}, which the importer does not handle`);
  }

  /** The ONNX tensor of input i, materializing a constant as an initializer on first use. */
  tensor(i: number | Value): string {
    const v = typeof i === 'number' ? this.inputs[i] : i;
    if (v.name) return v.name;
    const c = v.value!;
    if (v.type === 'float') v.name = this.b.init('w', DataType.FLOAT, c.shape, c.data as Float32Array);
    else if (v.type === 'int')
      v.name = this.b.init(
        'k',
        DataType.INT64,
        c.shape,
        BigInt64Array.from(c.data, (x) => BigInt(x)),
      );
    else v.name = this.b.op('Cast', [this.b.init('k', DataType.UINT8, c.shape, c.data as Uint8Array)], { to: ONNX_BOOL });
    return v.name;
  }

  /** The constant value of input i: ops such as Transpose and Conv need their perm, axis or filter at import time. */
  constant(i: number, what: string): ConstData {
    return this.inputs[i].value ?? this.fail(`its ${what} (input ${i}) must be a constant; it is computed at run time`);
  }

  constInts(i: number, what: string): number[] {
    return Array.from(this.constant(i, what).data);
  }
}

export function rankOf(...vs: Value[]): number | undefined {
  let r = 0;
  for (const v of vs) {
    if (v.rank === undefined) return undefined;
    r = Math.max(r, v.rank);
  }
  return r;
}
