// The detector's fused graph: a camera frame in (uint8 HWC rgb24, as the pipeline and the
// WebSocket carry it), boxes in frame pixels and class scores out. Letterbox, channel order,
// scaling and the head's decoding all run in onnxruntime, so JavaScript never touches a pixel;
// what is left for it (thresholds, NMS) works on boxes.
//
// Only operators whose signature is the same from opset 11 on, so the graph can take the
// detector's own opset (YOLOX-nano's export is opset 11).
import { DataType, GraphBuilder, defaultOpset, embedModel, type ModelProto } from '../infer/index.js';
import type { DetectorCard } from './card.js';
import { gridCells, headShape, letterbox } from './letterbox.js';

export const DETECTOR_IO = { frame: 'frame', boxes: 'boxes', scores: 'scores' } as const;
const MIN_OPSET = 11;

/** Columns from..to of an [anchors, values] matrix. */
function columns(b: GraphBuilder, x: string, from: number, to: number): string {
  return b.op('Slice', [x, b.i64([from]), b.i64([to]), b.i64([1])]);
}

/** The frame as the network wants it: [1, 3, input h, input w] float, letterboxed, in its channel order and scale. */
export function preprocess(b: GraphBuilder, frame: string, size: { width: number; height: number }, input: DetectorCard['input']): string {
  const { width: W, height: H } = size;
  const lb = letterbox(size, input);
  const f = b.op('Cast', [frame], { to: DataType.FLOAT });
  let x = b.op('Transpose', [b.op('Reshape', [f, b.i64([1, H, W, 3])])], { perm: [0, 3, 1, 2] });
  if (input.channels === 'bgr') x = b.op('Gather', [x, b.i64([2, 1, 0])], { axis: 1 });
  if (lb.width !== W || lb.height !== H) x = b.op('Resize', [x, b.f32([]), b.f32([]), b.i64([1, 3, lb.height, lb.width])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  if (lb.left || lb.top || lb.right || lb.bottom) x = b.op('Pad', [x, b.i64([0, 0, lb.top, lb.left, 0, 0, lb.bottom, lb.right]), b.f32([input.letterbox.pad], [])], { mode: 'constant' });
  const mul = input.std.map((s) => input.scale / s);
  const add = input.mean.map((m, c) => -m / input.std[c]);
  if (mul.some((v) => v !== 1)) x = b.op('Mul', [x, b.f32(mul, [1, 3, 1, 1])]);
  if (add.some((v) => v !== 0)) x = b.op('Add', [x, b.f32(add, [1, 3, 1, 1])]);
  return x;
}

/** Boxes [anchors, 4] (x1, y1, x2, y2 in frame pixels, inside the frame) and scores [anchors, classes] from the head's output. */
function postprocess(b: GraphBuilder, out: string, size: { width: number; height: number }, card: DetectorCard): void {
  const o = card.output;
  const { values } = headShape(card);
  const rows = o.layout === 'columns' ? b.op('Transpose', [out], { perm: [0, 2, 1] }) : out;
  const r = b.op('Reshape', [rows, b.i64([-1, values])]);
  const sigmoid = (x: string) => (o.scores === 'logit' ? b.op('Sigmoid', [x]) : x);
  let xy = columns(b, r, 0, 2);
  let wh = columns(b, r, 2, 4);
  if (o.decode === 'grid') {
    const g = gridCells(card.input, o.strides!);
    const stride = b.f32(g.strides, [g.count, 1]);
    xy = b.op('Mul', [b.op('Add', [xy, b.f32(g.cells, [g.count, 2])]), stride]);
    wh = b.op('Mul', [b.op('Exp', [wh]), stride]);
  }
  let p1 = xy;
  let p2 = wh;
  if (o.box === 'cxcywh') {
    const half = b.op('Mul', [wh, b.f32([0.5], [])]);
    p1 = b.op('Sub', [xy, half]);
    p2 = b.op('Add', [xy, half]);
  }
  // Back to frame pixels, and inside the frame.
  const lb = letterbox(size, card.input);
  const back = (p: string) => {
    const frame = b.op('Div', [b.op('Sub', [p, b.f32([lb.left, lb.top], [1, 2])]), b.f32([lb.sx, lb.sy], [1, 2])]);
    return b.op('Min', [b.op('Max', [frame, b.f32([0, 0], [1, 2])]), b.f32([size.width, size.height], [1, 2])]);
  };
  b.opN('Concat', [back(p1), back(p2)], { axis: 1 }, 1, [DETECTOR_IO.boxes]);
  const first = o.objectness ? 5 : 4;
  let scores = sigmoid(columns(b, r, first, values));
  if (o.objectness) scores = b.op('Mul', [scores, sigmoid(columns(b, r, 4, 5))]);
  b.opN('Identity', [scores], {}, 1, [DETECTOR_IO.scores]);
}

/** Wraps the detector `base` (consumed: its graph moves into the result) for frames of `size`. */
export function buildDetectorModel(base: ModelProto, card: DetectorCard, size: { width: number; height: number }): ModelProto {
  const opset = defaultOpset(base);
  if (opset < MIN_OPSET) throw new Error(`the detector uses ONNX opset ${opset}; opset ${MIN_OPSET} or newer is needed`);
  const b = new GraphBuilder('detector_fused', 'det/');
  const frame = b.input(DETECTOR_IO.frame, DataType.UINT8, [size.height, size.width, 3]);
  const out = embedModel(b, base, preprocess(b, frame, size, card.input));
  postprocess(b, out, size, card);
  b.output(DETECTOR_IO.boxes, DataType.FLOAT, ['anchors', 4]);
  b.output(DETECTOR_IO.scores, DataType.FLOAT, ['anchors', card.classes.length]);
  return b.toModel(opset, { opsetImport: base.opsetImport, irVersion: base.irVersion, functions: base.functions });
}
