// From --model and a frame size to the fused ONNX bytes the worker runs.
import { ModelError } from './errors.js';
import { buildFusedBytes, pastShape, type FusedSpec } from './fused-graph.js';
import { modelInputs } from './graph-merge.js';
import { resolveModel, type ModelCard } from './model-card.js';
import { chooseInferSize, type InferSizeRequest, type Size } from './infer-size.js';
import { DataType } from './onnx-proto.js';

export interface PreparedModel {
  card: ModelCard;
  source: string;
  infer: Size;
  fused: Uint8Array;
  /** the shape of a temporal model's past-frames state (null: a single-frame model) */
  past: number[] | null;
}

export function prepareModel(spec: string, frame: Size, req: Omit<InferSizeRequest, 'recommended' | 'fixed'>): PreparedModel {
  const resolved = resolveModel(spec);
  const { card } = resolved;
  const fixed = resolved.fixedSize ? { height: resolved.fixedSize[0], width: resolved.fixedSize[1] } : undefined;
  const recommended = card.inferSize ? { width: card.inferSize[0], height: card.inferSize[1] } : undefined;
  const infer = chooseInferSize(frame, { ...req, recommended, fixed });
  const base = resolved.load();
  const input = modelInputs(base)[0];
  if (input.elemType !== DataType.FLOAT || input.dims.length !== 4)
    throw new ModelError(`model ${card.name}: its input must be float32 NCHW (${card.input}); this one is type ${input.elemType} with ${input.dims.length} dimensions`);
  const frames = card.frames ?? 1;
  if (typeof input.dims[1] === 'number' && input.dims[1] !== 3 * frames)
    throw new ModelError(`model ${card.name}: its input has ${input.dims[1]} channels; a model of ${frames} RGB frame${frames > 1 ? 's' : ''} (card "frames") takes ${3 * frames}`);
  const fusedSpec: FusedSpec = { width: frame.width, height: frame.height, inferWidth: infer.width, inferHeight: infer.height, multiple: fixed ? 1 : card.sizeMultiple, output: card.output, frames };
  let fused: Uint8Array;
  try {
    fused = buildFusedBytes(base, fusedSpec);
  } catch (err) {
    throw new ModelError(`model ${card.name}: ${(err as Error).message}`);
  }
  return { card, source: resolved.source, infer, fused, past: pastShape(fusedSpec) };
}
