// Merges identical constants and identical nodes. jax2tf exports recompute the same run-time
// shapes in every block from separate but equal constants; onnxruntime's session setup time
// grows steeply with the node count (measured on MAXIM: a minute for the raw 24 k nodes).
import { createHash } from 'node:crypto';
import type { ModelProto } from '../onnx-proto.js';
import { onnx } from '../onnx-proto.js';
import type { onnx as OnnxTypes } from 'onnx-proto';

function attrKey(a: OnnxTypes.IAttributeProto): string {
  return JSON.stringify(onnx.AttributeProto.toObject(a as OnnxTypes.AttributeProto, { longs: String, bytes: String }));
}

/** Rewrites `model` in place; nodes must be in topological order (as the importer writes them). */
export function mergeDuplicates(model: ModelProto): void {
  const g = model.graph!;
  const alias = new Map<string, string>();
  const byContent = new Map<string, string>();
  const inits = [];
  for (const t of g.initializer ?? []) {
    const key = createHash('sha1')
      .update(`${t.dataType}|${(t.dims ?? []).join(',')}|`)
      .update(t.rawData ?? new Uint8Array())
      .digest('base64');
    const first = byContent.get(key);
    if (first) alias.set(t.name!, first);
    else {
      byContent.set(key, t.name!);
      inits.push(t);
    }
  }
  g.initializer = inits;

  const outputs = new Set((g.output ?? []).map((o) => o.name));
  const seen = new Map<string, string[]>();
  const nodes = [];
  for (const n of g.node ?? []) {
    n.input = (n.input ?? []).map((i) => alias.get(i) ?? i);
    const outs = n.output ?? [];
    if (outs.some((o) => outputs.has(o))) {
      nodes.push(n);
      continue;
    }
    const key = `${n.domain ?? ''}|${n.opType}|${n.input.join(',')}|${(n.attribute ?? []).map(attrKey).join(';')}`;
    const prev = seen.get(key);
    if (prev && prev.length === outs.length) {
      outs.forEach((o, i) => alias.set(o, prev[i]));
      continue;
    }
    seen.set(key, outs);
    nodes.push(n);
  }
  g.node = nodes;
}
