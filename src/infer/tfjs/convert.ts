// TensorFlow.js graph model → ONNX, node by node, with the graph builder.
import { ModelError } from '../errors.js';
import { DataType, GraphBuilder, type Dim, type ElemType } from '../graph-builder.js';
import type { ModelProto } from '../onnx-proto.js';
import type { TfGraphModel, TfNode } from './graph-model.js';
import { ELEMENTWISE_OPS, type OpHandler } from './ops-elementwise.js';
import { mergeDuplicates } from './cse.js';
import { fusePatterns } from './fuse.js';
import { FUSED_OPS } from './ops-fused.js';
import { NN_OPS } from './ops-nn.js';
import { SHAPE_OPS } from './ops-shape.js';
import { ConvertError, OpContext, onnxType, tfType, type Value } from './values.js';

/** Opset 20: Gelu; ReduceSum takes its axes as an input; Reshape knows allowzero. */
export const TFJS_OPSET = 20;

const TF_OPS: Record<string, OpHandler> = { ...ELEMENTWISE_OPS, ...SHAPE_OPS, ...NN_OPS };
const OPS: Record<string, OpHandler> = { ...TF_OPS, ...FUSED_OPS };

/** The TensorFlow ops the importer converts (Const and Placeholder are handled by the converter itself). */
export const SUPPORTED_OPS = ['Const', 'Placeholder', ...Object.keys(TF_OPS)].sort();

export interface ConvertOptions {
  /**
   * image: the model has one NHWC image input and output, and the ONNX model takes and returns
   * NCHW ("input" [N, C, H, W] → "output"); plain: inputs and outputs keep their TensorFlow
   * names and layout (for single-op checks).
   */
  io: 'image' | 'plain';
  /** where the model came from, for error messages */
  where?: string;
  /** replace recognized subgraphs (GELU, LayerNorm, …) by fused nodes (default true) */
  fuse?: boolean;
}

function splitRef(ref: string): [string, number] {
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? [m[1], Number(m[2])] : [ref, 0];
}

/** The nodes the outputs depend on, producers first (iteratively: the graphs are deep). */
function topoOrder(byName: Map<string, TfNode>, outputs: string[], fail: (why: string) => never): TfNode[] {
  const order: TfNode[] = [];
  const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
  for (const out of outputs) {
    const stack: [TfNode, number][] = [];
    const root = byName.get(splitRef(out)[0]) ?? fail(`output ${out} names no node`);
    if (state.get(root.name) === 2) continue;
    stack.push([root, 0]);
    state.set(root.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [node, next] = top;
      if (next < node.inputs.length) {
        top[1]++;
        const [dep] = splitRef(node.inputs[next]);
        const d = byName.get(dep) ?? fail(`node ${node.name} reads ${dep}, which is not in the graph`);
        const s = state.get(d.name);
        if (s === 1) fail(`the graph has a cycle through ${d.name}`);
        if (s !== 2) {
          state.set(d.name, 1);
          stack.push([d, 0]);
        }
      } else {
        stack.pop();
        state.set(node.name, 2);
        order.push(node);
      }
    }
  }
  return order;
}

function placeholderDims(node: TfNode): Dim[] | undefined {
  const dims = (node.attr.shape?.shape as { dim?: { size?: string }[]; unknownRank?: boolean } | undefined)?.dim;
  if (!dims) return undefined;
  return dims.map((d, i) => (Number(d.size ?? -1) >= 0 ? Number(d.size) : `${node.name}_d${i}`));
}

export function convertGraphModel(source: TfGraphModel, opts: ConvertOptions): ModelProto {
  const model = opts.fuse === false ? source : fusePatterns(source);
  const where = opts.where ?? 'TensorFlow.js model';
  const fail = (why: string): never => {
    throw new ModelError(`cannot import ${where}: ${why}`);
  };
  const byName = new Map(model.nodes.map((n) => [n.name, n]));
  const b = new GraphBuilder('tfjs_import');
  const values = new Map<string, Value>();
  const inputNames = new Set(model.inputs.map((r) => splitRef(r)[0]));
  if (opts.io === 'image' && (model.inputs.length !== 1 || model.outputs.length < 1))
    fail(`an image model needs one input and an output; this one has ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
  const outputs = opts.io === 'image' ? model.outputs.slice(0, 1) : model.outputs;

  for (const node of topoOrder(byName, outputs, fail)) {
    if (node.op === 'Const') {
      const w = model.weights.get(node.name) ?? fail(`Const node ${node.name} has no entry in the weights manifest`);
      const type = w.dtype === 'float32' ? 'float' : w.dtype === 'int32' ? 'int' : 'bool';
      values.set(node.name, { type, rank: w.shape.length, length: w.shape.length === 1 ? w.shape[0] : undefined, value: { shape: w.shape, data: w.data } });
      continue;
    }
    if (node.op === 'Placeholder') {
      if (!inputNames.has(node.name)) fail(`Placeholder node ${node.name} is not one of the model's inputs`);
      const type = tfType(node.attr.dtype?.type) ?? fail(`input ${node.name} has dtype ${node.attr.dtype?.type}, which the importer does not handle`);
      const dims = placeholderDims(node);
      if (opts.io === 'image') {
        if (type !== 'float' || (dims && (dims.length !== 4 || (typeof dims[3] === 'number' && dims[3] !== 3))))
          fail(`input ${node.name} is not an NHWC RGB float image (shape ${JSON.stringify(dims)})`);
        const x = b.input('input', DataType.FLOAT, ['batch', 3, 'height', 'width']);
        values.set(node.name, { type, rank: 4, name: b.op('Transpose', [x], { perm: [0, 2, 3, 1] }) });
      } else {
        const length = dims?.length === 1 && typeof dims[0] === 'number' ? dims[0] : undefined;
        values.set(node.name, { type, rank: dims?.length, length, name: b.input(node.name, onnxType(type) as ElemType, dims ?? []) });
      }
      continue;
    }
    const handler = OPS[node.op] ?? fail(`unsupported op ${node.op} (node ${node.name})`);
    const inputs = node.inputs.map((ref) => {
      const [src, index] = splitRef(ref);
      if (index !== 0) fail(`node ${node.name} reads output ${index} of ${src}; only single-output ops are supported`);
      return values.get(src)!;
    });
    try {
      values.set(node.name, handler(new OpContext(node, inputs, b)));
    } catch (err) {
      if (err instanceof ConvertError) fail(err.message);
      throw err;
    }
  }

  outputs.forEach((ref, i) => {
    const v = values.get(splitRef(ref)[0])!;
    const ctx = new OpContext({ name: ref, op: 'output', inputs: [], attr: {} }, [v], b);
    const t = ctx.tensor(0);
    if (opts.io === 'image') {
      b.opN('Transpose', [t], { perm: [0, 3, 1, 2] }, 1, ['output']);
      b.output('output', DataType.FLOAT, ['batch', 3, 'height', 'width']);
    } else {
      const name = `output_${i}`;
      b.opN('Identity', [t], {}, 1, [name]);
      const dims: Dim[] | undefined = v.rank === undefined ? undefined : Array.from({ length: v.rank }, (_, d) => `${name}_d${d}`);
      b.output(name, onnxType(v.type) as ElemType, dims ?? []);
      // An output of unknown rank has no shape at all (an empty one would say "scalar").
      if (!dims) b.outputs[b.outputs.length - 1].type!.tensorType!.shape = null;
    }
  });
  const onnxModel = b.toModel(TFJS_OPSET);
  mergeDuplicates(onnxModel);
  return onnxModel;
}
