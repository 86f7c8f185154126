// Counts the multiply-add work of a model's convolutions and matrix products, from the shapes
// onnxruntime itself computes (every such node's tensors are exposed as extra outputs for one run).
import ort from 'onnxruntime-node';
import { decodeModel, encodeModel, onnx, toNumber } from './onnx-proto.js';
import { ortLogSeverity } from './session.js';

const COUNTED = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);

export async function countFlops(modelBytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<number> {
  const model = decodeModel(modelBytes);
  const g = model.graph!;
  const dimsOf = new Map<string, number[]>();
  for (const init of g.initializer ?? []) dimsOf.set(init.name!, (init.dims ?? []).map(toNumber));
  const nodes = (g.node ?? []).filter((n) => COUNTED.has(n.opType ?? ''));
  const wanted = new Set<string>();
  for (const n of nodes) for (const t of [...(n.input ?? []).slice(0, 2), n.output![0]]) if (t && !dimsOf.has(t)) wanted.add(t);
  const existing = new Set((g.output ?? []).map((o) => o.name));
  for (const name of wanted) if (!existing.has(name)) g.output!.push(new onnx.ValueInfoProto({ name }));
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled', logSeverityLevel: ortLogSeverity() });
  const result = await session.run(feeds, [...wanted]);
  await session.release();
  for (const [name, t] of Object.entries(result)) dimsOf.set(name, t.dims.map(Number));
  for (const [name, t] of Object.entries(feeds)) dimsOf.set(name, t.dims.map(Number));

  let flops = 0;
  const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
  for (const n of nodes) {
    const [a, b] = (n.input ?? []).map((i) => dimsOf.get(i) ?? []);
    const out = dimsOf.get(n.output![0]) ?? [];
    const transA = toNumber((n.attribute ?? []).find((x) => x.name === 'transA')?.i ?? 0) === 1;
    if (n.opType === 'Conv') flops += 2 * prod(out) * (b[1] ?? 0) * prod(b.slice(2));
    // weights [Cin, Cout/group, k, k]: each input value feeds Cout/group · k² products
    else if (n.opType === 'ConvTranspose') flops += 2 * prod(a) * (b[1] ?? 0) * prod(b.slice(2));
    else if (n.opType === 'MatMul') flops += 2 * prod(out) * (a[a.length - 1] ?? 0);
    else if (n.opType === 'Gemm') flops += 2 * prod(out) * ((transA ? a[0] : a[1]) ?? 0);
  }
  return flops;
}
