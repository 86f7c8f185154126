// From --model and a frame size to the fused ONNX bytes the worker runs.
import { ModelError } from './errors.js';
import { buildFusedBytes, pastShape, type FusedSpec } from './fused-graph.js';
import { modelInputs, type TensorSignature } from './graph-merge.js';
import { resolveModel, type ModelCard } from './model-card.js';
import { chooseInferSize, type InferSizeRequest, type Size } from './infer-size.js';
import { DataType, onnx } from './onnx-proto.js';

export interface PreparedModel {
  card: ModelCard;
  source: string;
  infer: Size;
  fused: Uint8Array;
  /** the shape of a temporal model's past-frames state (null: a single-frame model) */
  past: number[] | null;
}

/** "float32", "uint8", ...: the ONNX element type as exporters name it. */
function typeName(elemType: number): string {
  const name = (onnx.TensorProto.DataType as unknown as Record<number, string>)[elemType]?.toLowerCase() ?? `type ${elemType}`;
  return name === 'float' ? 'float32' : name === 'double' ? 'float64' : name;
}

const shapeText = (dims: TensorSignature['dims']) => `[${dims.map((d) => (typeof d === 'number' ? d : d || '?')).join(', ')}]`;

/**
 * The fused graph feeds the model one float32 NCHW batch of one frame, whatever the model's
 * input declares (onnxruntime goes by the node's data, not the declared shape): a model that
 * declares something else would run on data it does not expect, so it is refused here.
 */
function checkInput(input: TensorSignature, card: ModelCard, frames: number): void {
  const { dims } = input;
  const refuse = (why: string) => new ModelError(`model ${card.name}: ${why}; a deraining model takes float32 NCHW [1, ${3 * frames}, height, width]`);
  if (input.elemType !== DataType.FLOAT) throw refuse(`its input is ${typeName(input.elemType)} ${shapeText(dims)}`);
  if (dims.length !== 4) throw refuse(`its input has ${dims.length} dimensions ${shapeText(dims)}`);
  const channels = 3 * frames;
  if (dims[1] !== channels && dims[3] === channels) throw refuse(`its input ${shapeText(dims)} is channels-last (NHWC): export it channels-first`);
  if (typeof dims[0] === 'number' && dims[0] !== 1) throw refuse(`its input ${shapeText(dims)} takes batches of ${dims[0]}: frames go one at a time (export with batch 1 or a dynamic batch)`);
  if (typeof dims[1] === 'number' && dims[1] !== channels)
    throw new ModelError(`model ${card.name}: its input has ${dims[1]} channels; a model of ${frames} RGB frame${frames > 1 ? 's' : ''} (card "frames") takes ${channels}`);
}

/** `batch`: the batched graph of a shared session (fused-graph.ts), frames of several streams in one run. */
export function prepareModel(spec: string, frame: Size, req: Omit<InferSizeRequest, 'recommended' | 'fixed'>, batch?: FusedSpec['batch']): PreparedModel {
  const resolved = resolveModel(spec);
  const { card } = resolved;
  const fixed = resolved.fixedSize ? { height: resolved.fixedSize[0], width: resolved.fixedSize[1] } : undefined;
  const recommended = card.inferSize ? { width: card.inferSize[0], height: card.inferSize[1] } : undefined;
  const base = resolved.load();
  const frames = card.frames ?? 1;
  checkInput(modelInputs(base)[0], card, frames);
  const infer = chooseInferSize(frame, { ...req, recommended, fixed });
  const fusedSpec: FusedSpec = {
    width: frame.width,
    height: frame.height,
    inferWidth: infer.width,
    inferHeight: infer.height,
    multiple: fixed ? 1 : card.sizeMultiple,
    output: card.output,
    frames,
    batch,
  };
  let fused: Uint8Array;
  try {
    fused = buildFusedBytes(base, fusedSpec);
  } catch (err) {
    throw new ModelError(`model ${card.name}: ${(err as Error).message}`);
  }
  return { card, source: resolved.source, infer, fused, past: pastShape(fusedSpec) };
}
