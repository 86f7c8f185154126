// The fused inference graph of ARCHITECTURE.md: uint8 frame in, derained and smoothed uint8 frame out.
//
// Only operators whose signature is the same from opset 11 to today are used, so the fused
// graph can take the base model's own opset and never changes the meaning of its nodes.
import { GraphBuilder, DataType, type Dim } from './graph-builder.js';
import { applyShift, estimateShift, type Shift } from './align-graph.js';
import { embedModel } from './graph-merge.js';
import { defaultOpset, encodeModel, type ModelProto } from './onnx-proto.js';

export const MIN_OPSET = 11;

/** Motion weight: a pixel whose derained value moved less than LOW (in [0,1] units) is smoothed fully, more than HIGH not at all. */
export const MOTION_LOW = 0.04;
export const MOTION_HIGH = 0.16;
/**
 * The change map is opened before it says "motion": eroded by ERODE (a streak the model left,
 * one or two pixels wide, vanishes; a car does not), then dilated by DILATE (the car's edges).
 */
export const MOTION_ERODE = 3;
export const MOTION_DILATE = 5;
/**
 * Rain only brightens: where a still pixel gets brighter it is most likely a streak, so the
 * state follows it at `smooth`; where it gets darker (a streak leaving) at smooth × DOWN_SHARE,
 * i.e. faster. Chosen on the video benchmark (CDnet frames 1200-1300, heavy rain; README).
 */
export const DOWN_SHARE = 1 / 3;
/** Scene cut: when the mean change over the whole frame passes CUT_LOW..CUT_HIGH, the state is replaced. */
export const CUT_LOW = 0.15;
export const CUT_HIGH = 0.25;
/** The past's cut is measured on every CUT_SAMPLE-th row and column. */
export const CUT_SAMPLE = 4;

export const FUSED_IO = {
  frame: 'frame',
  state: 'state',
  smooth: 'smooth',
  out: 'out',
  stateOut: 'state_out',
  /** temporal models: the past frames as the model saw them (t-1 first), and 1 to start them from this frame */
  past: 'past',
  reset: 'reset',
  pastOut: 'past_out',
} as const;

export interface FusedSpec {
  width: number;
  height: number;
  inferWidth: number;
  inferHeight: number;
  /** the model's spatial size multiple: the low-resolution frame is padded up to it */
  multiple: number;
  /** what the base model returns: the clean image, or the rain residual (input − clean) */
  output: 'image' | 'residual';
  /** frames the model takes (the current one, then frames − 1 past ones stacked on its channels); default 1 */
  frames?: number;
  /**
   * A batch of frames from several streams at once (the service's shared sessions): every
   * input and output gets a leading dimension, one entry per stream, and `smooth` and `reset`
   * are one value per frame. A number fixes the batch size: every shape is known, so
   * onnxruntime's CPU provider folds the model's shape arithmetic and keeps its blocked layout
   * through the resizes (a symbolic batch cost a batch of 1 a third more on the CPU, in layout
   * reorders). 'dynamic': the symbolic dimension N, for providers that take any batch in one
   * session (CUDA, TensorRT). Unset, the graph is the one-frame graph of `derain run` and eval.
   */
  batch?: number | 'dynamic';
}

/** The name of the batch dimension of a batched graph's inputs and outputs. */
export const BATCH_DIM = 'N';

/** The shape of a temporal model's past-frames state, [1, 3 (frames − 1), h, w] at the padded inference size; null for a single-frame model. */
export function pastShape(spec: FusedSpec): number[] | null {
  const frames = spec.frames ?? 1;
  if (frames <= 1) return null;
  return [1, 3 * (frames - 1), paddedSize(spec.inferHeight, spec.multiple), paddedSize(spec.inferWidth, spec.multiple)];
}

export function paddedSize(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Standard deviation of the Gaussian prefilter that stands in for an antialiased downscale by `factor`. */
export function prefilterSigma(factor: number): number {
  // A triangle filter as wide as the scale factor has variance f²/6; linear interpolation
  // at half-pixel centres already contributes about 1/4.
  return factor > 1.25 ? Math.sqrt((factor * factor) / 6 - 0.25) : 0;
}

export function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(2 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

function blurAxis(b: GraphBuilder, x: string, sigma: number, axis: 'h' | 'w'): string {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const shape = axis === 'h' ? [3, 1, k.length, 1] : [3, 1, 1, k.length];
  const weights = new Float32Array(3 * k.length);
  for (let c = 0; c < 3; c++) weights.set(k, c * k.length);
  const pads = axis === 'h' ? [0, 0, r, 0, 0, 0, r, 0] : [0, 0, 0, r, 0, 0, 0, r];
  const padded = b.op('Pad', [x, b.i64(pads)], { mode: 'edge' });
  return b.op('Conv', [padded, b.f32(weights, shape)], { group: 3, kernel_shape: shape.slice(2) });
}

/**
 * The Resize target [n, 3, h, w]: a constant for a known batch size; for a symbolic one, n
 * taken from `x` (sizes rather than scales, so a batch samples exactly where one frame does).
 */
function resizeSizes(b: GraphBuilder, x: string, h: number, w: number, n: Dim): string {
  if (typeof n === 'number') return b.i64([n, 3, h, w]);
  const batch = b.op('Slice', [b.op('Shape', [x]), b.i64([0]), b.i64([1]), b.i64([0])]);
  return b.op('Concat', [batch, b.i64([3, h, w])], { axis: 0 });
}

function resize(b: GraphBuilder, x: string, h: number, w: number, n: Dim): string {
  // Empty roi and scales keep this one signature valid from opset 11 on.
  return b.op('Resize', [x, b.f32([]), b.f32([]), resizeSizes(b, x, h, w, n)], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
}

function clip01(b: GraphBuilder, x: string): string {
  return b.op('Clip', [x, b.f32([0], []), b.f32([1], [])]);
}

/** 0 at or below `lo`, 1 at or above `hi`, linear between. */
function ramp(b: GraphBuilder, x: string, lo: number, hi: number): string {
  return clip01(b, b.op('Mul', [b.op('Sub', [x, b.f32([lo], [])]), b.f32([1 / (hi - lo)], [])]));
}

/** 0 below a mean change of CUT_LOW over the whole frame, 1 above CUT_HIGH: a scene cut. */
function cutWeight(b: GraphBuilder, change: string): string {
  return ramp(b, b.op('GlobalAveragePool', [change]), CUT_LOW, CUT_HIGH);
}

/** |difference| of [n, 3, h, w] averaged over the three channels, [n, 1, h, w]. */
function absChange(b: GraphBuilder, diff: string, size: [number, number]): string {
  return channelSum(b, b.op('Abs', [diff]), 1 / 3, size);
}

/**
 * k × the sum of the three channels of [n, 3, h, w], as a MatMul: a 3-to-1 Conv of a frame went
 * through the CPU provider's blocked layout and back, at twice the time.
 */
function channelSum(b: GraphBuilder, x: string, k: number, [h, w]: [number, number]): string {
  const flat = b.op('Reshape', [x, b.i64([0, 3, h * w])]);
  return b.op('Reshape', [b.op('MatMul', [b.f32([k, k, k], [1, 3]), flat]), b.i64([0, 1, h, w])]);
}

/**
 * A temporal model's input: the current frame stacked with the past ones, and the past to keep.
 * The past restarts from the current frame (every past frame is this one, which the model was
 * trained to read as a still picture) on a reset and, smoothly, on a scene cut. The past is first
 * moved with the camera (align-graph.ts), so a pan or shake is neither a ghost nor a cut.
 */
function withPast(b: GraphBuilder, current: string, frames: number, shape: number[], n: Dim, batched: boolean): { input: string; shift: Shift } {
  const stored = b.input(FUSED_IO.past, DataType.FLOAT, [n, ...shape.slice(1)]);
  const reset = perFrame(b, b.input(FUSED_IO.reset, DataType.FLOAT, [n]), batched);
  const k = frames - 1;
  const [, , h, w] = shape;
  const first = (x: string) => b.op('Slice', [x, b.i64([0]), b.i64([3]), b.i64([1])]);
  const shift = estimateShift(b, current, first(stored), h, w);
  const past = applyShift(b, stored, shift, h, w, batched);
  // A cut changes the whole frame: every CUT_SAMPLE-th pixel each way measures it as well, at a
  // sixteenth of the passes over the frame.
  const sample = (x: string) => b.op('Slice', [x, b.i64([0, 0, 0]), b.i64([3, h, w]), b.i64([1, 2, 3]), b.i64([1, CUT_SAMPLE, CUT_SAMPLE])]);
  const sampled: [number, number] = [Math.ceil(h / CUT_SAMPLE), Math.ceil(w / CUT_SAMPLE)];
  const r = b.op('Max', [cutWeight(b, absChange(b, b.op('Sub', [sample(current), sample(past)]), sampled)), reset]);
  // past (1 − r) + current r, the current frame broadcast over the k past ones as [n, k, 3, h, w]
  // (no k copies of it): two passes over the past, which is most of what a frame's state costs
  const r5 = b.op('Unsqueeze', [r, b.i64([4])]);
  const frames5 = (x: string, c: number) => b.op('Reshape', [x, b.i64([0, c, 3, h, w])]);
  const mixed = b.op('Add', [b.op('Mul', [frames5(past, k), b.op('Sub', [b.f32([1], []), r5])]), b.op('Mul', [frames5(current, 1), r5])]);
  const used = b.op('Reshape', [mixed, b.i64([0, 3 * k, h, w])]);
  const input = b.op('Concat', [current, used], { axis: 1 });
  // the input's first k frames, one copy (a Concat of the current frame and a Slice took two)
  b.opN('Slice', [input, b.i64([0]), b.i64([3 * k]), b.i64([1])], {}, 1, [FUSED_IO.pastOut]);
  b.output(FUSED_IO.pastOut, DataType.FLOAT, [n, ...shape.slice(1)]);
  return { input, shift };
}

/** A per-frame scalar input ([N]) as [N, 1, 1, 1], so each frame of a batch gets its own; one frame's [1] broadcasts as is. */
function perFrame(b: GraphBuilder, x: string, batched: boolean): string {
  return batched ? b.op('Reshape', [x, b.i64([-1, 1, 1, 1])]) : x;
}

/** Wraps `base` (consumed: its graph is moved into the result) and returns the fused model. */
export function buildFusedModel(base: ModelProto, spec: FusedSpec): ModelProto {
  const opset = defaultOpset(base);
  if (opset < MIN_OPSET) throw new Error(`the model uses ONNX opset ${opset}; opset ${MIN_OPSET} or newer is needed`);
  const { width: W, height: H, inferWidth: w, inferHeight: h } = spec;
  const batched = spec.batch !== undefined;
  const n: Dim = spec.batch === 'dynamic' ? BATCH_DIM : (spec.batch ?? 1);
  const b = new GraphBuilder('derain_fused', 'fused/');

  const frame = b.input(FUSED_IO.frame, DataType.UINT8, batched ? [n, H, W, 3] : [H, W, 3]);
  const state = b.input(FUSED_IO.state, DataType.FLOAT, [n, 3, H, W]);
  const smooth = perFrame(b, b.input(FUSED_IO.smooth, DataType.FLOAT, [n]), batched);

  const f = b.op('Mul', [b.op('Cast', [frame], { to: DataType.FLOAT }), b.f32([1 / 255], [])]);
  const x = b.op('Transpose', [batched ? f : b.op('Reshape', [f, b.i64([1, H, W, 3])])], { perm: [0, 3, 1, 2] });

  const scaled = w !== W || h !== H;
  let low = x;
  if (scaled) {
    const sh = prefilterSigma(H / h);
    const sw = prefilterSigma(W / w);
    if (sh > 0) low = blurAxis(b, low, sh, 'h');
    if (sw > 0) low = blurAxis(b, low, sw, 'w');
    low = resize(b, low, h, w, n);
  }

  const hp = paddedSize(h, spec.multiple);
  const wp = paddedSize(w, spec.multiple);
  let padded = low;
  if (hp !== h || wp !== w) {
    // Reflection needs the pad to be smaller than the side; edge replication always works.
    const mode = hp - h < h && wp - w < w ? 'reflect' : 'edge';
    padded = b.op('Pad', [low, b.i64([0, 0, 0, 0, 0, 0, hp - h, wp - w])], { mode });
  }

  const frames = spec.frames ?? 1;
  const past = pastShape(spec);
  const temporal = past ? withPast(b, padded, frames, past, n, batched) : undefined;
  const modelOut = embedModel(b, base, temporal?.input ?? padded);
  let residual = spec.output === 'residual' ? modelOut : b.op('Sub', [padded, modelOut]);
  if (hp !== h || wp !== w) residual = b.op('Slice', [residual, b.i64([0, 0]), b.i64([h, w]), b.i64([2, 3])]);
  if (scaled) residual = resize(b, residual, H, W, n);
  const y = b.op('Sub', [x, residual]);

  // Motion-adaptive, rain-aware smoothing of the derained frame: B += a (y − B), a → 1 where y moved.
  // A temporal model's camera shift moves B too, so a pan is smoothed along the scene, not across it.
  const prior = temporal ? applyShift(b, state, temporal.shift, H, W, batched, [H / h, W / w]) : state;
  const diff = b.op('Sub', [y, prior]);
  const change = absChange(b, diff, [H, W]);
  const pool = (x: string, k: number) => b.op('MaxPool', [x], { kernel_shape: [k, k], pads: [k >> 1, k >> 1, k >> 1, k >> 1], strides: [1, 1] });
  const opened = pool(b.op('Neg', [pool(b.op('Neg', [change]), MOTION_ERODE)]), MOTION_DILATE);
  const m = b.op('Max', [ramp(b, opened, MOTION_LOW, MOTION_HIGH), cutWeight(b, change)]);
  // brighter (the channels' mean difference above 0): `smooth`; darker: smooth × DOWN_SHARE
  const brighter = b.op('Cast', [b.op('Greater', [channelSum(b, diff, 1, [H, W]), b.f32([0], [])])], { to: DataType.FLOAT });
  const strength = b.op('Mul', [smooth, b.op('Add', [b.op('Mul', [brighter, b.f32([1 - DOWN_SHARE], [])]), b.f32([DOWN_SHARE], [])])]);
  const a = b.op('Add', [b.op('Mul', [strength, b.op('Sub', [m, b.f32([1], [])])]), b.f32([1], [])]);
  const next = clip01(b, b.op('Add', [prior, b.op('Mul', [a, diff])]));
  b.opN('Identity', [next], {}, 1, [FUSED_IO.stateOut]);

  const u = b.op('Floor', [b.op('Add', [b.op('Mul', [next, b.f32([255], [])]), b.f32([0.5], [])])]);
  const nhwc = b.op('Transpose', [u], { perm: [0, 2, 3, 1] });
  const hwc = batched ? nhwc : b.op('Reshape', [nhwc, b.i64([H, W, 3])]);
  b.opN('Cast', [hwc], { to: DataType.UINT8 }, 1, [FUSED_IO.out]);

  b.output(FUSED_IO.out, DataType.UINT8, batched ? [n, H, W, 3] : [H, W, 3]);
  b.output(FUSED_IO.stateOut, DataType.FLOAT, [n, 3, H, W]);
  return b.toModel(opset, { opsetImport: base.opsetImport, irVersion: base.irVersion, functions: base.functions });
}

export function buildFusedBytes(base: ModelProto, spec: FusedSpec): Uint8Array {
  return encodeModel(buildFusedModel(base, spec));
}
