// Builds ONNX graphs in TypeScript (protobuf encoding, no Python at run time).
import { onnx, DataType, encodeModel, type ModelProto, type NodeProto, type TensorProto } from './onnx-proto.js';

export type ElemType = (typeof DataType)[keyof typeof DataType];
export type Dim = number | string;
type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] } | TensorProto;

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, value: AttrValue) {
  const a = new onnx.AttributeProto({ name });
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float } for non-integers`);
    a.type = AttrType.INT;
    a.i = value;
  } else if (typeof value === 'string') {
    a.type = AttrType.STRING;
    a.s = new TextEncoder().encode(value);
  } else if (Array.isArray(value)) {
    a.type = AttrType.INTS;
    a.ints = value as number[];
  } else if (value instanceof onnx.TensorProto) {
    a.type = AttrType.TENSOR;
    a.t = value;
  } else if ('float' in value) {
    a.type = AttrType.FLOAT;
    a.f = value.float;
  } else if ('floats' in value) {
    a.type = AttrType.FLOATS;
    a.floats = value.floats;
  }
  return a;
}

export function tensorProto(name: string, type: ElemType, dims: number[], data: ArrayLike<number> | ArrayBufferView): TensorProto {
  const t = new onnx.TensorProto({ name, dataType: type, dims });
  let bytes: Uint8Array;
  if (ArrayBuffer.isView(data)) {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else if (type === DataType.FLOAT) {
    bytes = new Uint8Array(Float32Array.from(data).buffer);
  } else if (type === DataType.INT64) {
    bytes = new Uint8Array(BigInt64Array.from(Array.from(data), (v) => BigInt(v)).buffer);
  } else if (type === DataType.UINT8) {
    bytes = Uint8Array.from(data);
  } else {
    throw new Error(`tensorProto: unsupported type ${type}`);
  }
  // The protobuf writer keeps a reference: copy so later edits of `data` cannot change the model.
  t.rawData = bytes.slice();
  return t;
}

function valueInfo(name: string, type: ElemType, dims: Dim[]) {
  return new onnx.ValueInfoProto({
    name,
    type: new onnx.TypeProto({
      tensorType: new onnx.TypeProto.Tensor({
        elemType: type,
        shape: new onnx.TensorShapeProto({
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private counter = 0;

  constructor(
    readonly name = 'graph',
    private readonly prefix = '',
  ) {}

  /** A fresh tensor name, unique within this builder. */
  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A named weight or constant tensor. */
  init(hint: string, type: ElemType, dims: number[], data: ArrayLike<number> | ArrayBufferView): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorProto(name, type, dims, data));
    return name;
  }

  f32(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.init('c', DataType.FLOAT, dims, values instanceof Float32Array ? values : Float32Array.from(values));
  }

  i64(values: number[], dims: number[] = [values.length]): string {
    return this.init('i', DataType.INT64, dims, values);
  }

  /** Adds a node; returns its output names (one unless `outputs` > 1). */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string {
    return this.opN(type, inputs, attrs, outputs)[0];
  }

  opN(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, names?: string[]): string[] {
    const out = names ?? Array.from({ length: outputs }, () => this.fresh(type.toLowerCase()));
    this.nodes.push(
      new onnx.NodeProto({
        opType: type,
        name: this.fresh(`n_${type}`),
        input: inputs,
        output: out,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return out;
  }

  /** Renames the output of the last node that produced `from` (to give graph outputs fixed names). */
  rename(from: string, to: string): string {
    for (const n of this.nodes) {
      n.output = n.output.map((o) => (o === from ? to : o));
      n.input = n.input.map((i) => (i === from ? to : i));
    }
    return to;
  }

  toModel(opset: number, extra: Partial<Pick<ModelProto, 'opsetImport' | 'irVersion' | 'functions'>> = {}): ModelProto {
    return new onnx.ModelProto({
      irVersion: extra.irVersion ?? 8,
      producerName: 'derain-stream',
      opsetImport: extra.opsetImport ?? [new onnx.OperatorSetIdProto({ domain: '', version: opset })],
      functions: extra.functions ?? [],
      graph: new onnx.GraphProto({
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }

  toBytes(opset: number): Uint8Array {
    return encodeModel(this.toModel(opset));
  }
}

export { DataType };
