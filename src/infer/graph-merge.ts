// Embeds a base model's graph into a builder under a name prefix, so the fused graph is one session.
import type { onnx } from 'onnx-proto';
import type { ModelProto, NodeProto, TensorProto } from './onnx-proto.js';
import { toNumber } from './onnx-proto.js';
import type { GraphBuilder } from './graph-builder.js';

export interface TensorSignature {
  name: string;
  elemType: number;
  /** number for fixed sizes, string for symbolic or unknown ones */
  dims: (number | string)[];
}

function signature(v: {
  name?: string | null;
  type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null;
}): TensorSignature {
  const t = v.type?.tensorType;
  const dims = (t?.shape?.dim ?? []).map((d) => {
    const val = d.dimValue == null ? 0 : toNumber(d.dimValue);
    return val > 0 ? val : d.dimParam || '?';
  });
  return { name: v.name ?? '', elemType: t?.elemType ?? 0, dims };
}

/** The graph inputs that are not initializers (older exports list weights as inputs too). */
export function modelInputs(model: ModelProto): TensorSignature[] {
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((i) => i.name));
  return (g.input ?? []).filter((i) => !inits.has(i.name ?? '')).map(signature);
}

function renameGraph(g: onnx.IGraphProto, rename: (n: string) => string): void {
  for (const n of g.node ?? []) {
    n.input = (n.input ?? []).map(rename);
    n.output = (n.output ?? []).map(rename);
    if (n.name) n.name = rename(n.name);
    // Subgraphs (If, Loop, Scan) may refer to outer names: rename them the same way.
    for (const a of n.attribute ?? []) {
      if (a.g) renameGraph(a.g, rename);
      for (const sg of a.graphs ?? []) renameGraph(sg, rename);
    }
  }
  for (const list of [g.input, g.output, g.valueInfo, g.initializer]) {
    for (const v of list ?? []) if (v.name) v.name = rename(v.name);
  }
}

/**
 * Copies the base model's nodes and weights into `b`, feeding `input` to its single image
 * input. Returns the name of its first output inside `b`.
 */
export function embedModel(b: GraphBuilder, model: ModelProto, input: string, prefix = 'base/'): string {
  const g = model.graph!;
  const inName = modelInputs(model)[0].name;
  const outName = g.output![0].name!;
  renameGraph(g, (n) => (n === '' ? '' : n === inName ? input : prefix + n));
  if ((g.sparseInitializer ?? []).length > 0) throw new Error('models with sparse initializers are not supported');
  b.nodes.push(...((g.node ?? []) as NodeProto[]));
  b.initializers.push(...((g.initializer ?? []) as TensorProto[]));
  return prefix + outName;
}
