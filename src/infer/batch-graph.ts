// A batched fused graph (fused-graph.ts, batch 'dynamic') fixed to one batch size. onnxruntime's
// CPU provider plans a graph whose shapes are all known far better than one with a symbolic
// batch: it folds the model's own shape arithmetic (Shape → Resize sizes) and keeps its blocked
// NCHWc layout through the resizes. With the batch symbolic, a batch of one took a third longer
// on the 2-core machine (layout reorders around every resize). So on the CPU the inference
// process opens one session per batch size, each from this graph with N replaced by the size.
import { BATCH_DIM } from './fused-graph.js';
import { decodeModel, encodeModel } from './onnx-proto.js';

export function fixBatch(model: Uint8Array, n: number): Uint8Array {
  const m = decodeModel(model);
  const g = m.graph!;
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) {
    for (const d of v.type?.tensorType?.shape?.dim ?? []) {
      if (d.dimParam === BATCH_DIM) {
        d.dimParam = null;
        d.dimValue = n;
      }
    }
  }
  return encodeModel(m);
}
