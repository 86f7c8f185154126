// The detector's fused graph against plain JavaScript references, in real onnxruntime: the
// letterbox (channel order, scale, padding, placement), the decoding of YOLOX-style grid heads
// and of already-decoded column heads, and YOLOX-nano itself on a real CDnet frame. Then the
// detectors it refuses, each with one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { UserError } from '../../src/errors.ts';
import { readImage } from '../../src/eval/read-image.ts';
import { DataType, GraphBuilder, decodeModel, encodeModel, openSession } from '../../src/infer/index.ts';
import { buildDetectorModel, candidates, gridCells, letterbox, loadDetector, nms, openDetector, parseCard, preprocess, type DetectorCard } from '../../src/detect/index.ts';
import { ROOT, SHARED_DATA, tmpDir } from '../helpers.ts';

const YOLOX = path.resolve(ROOT, '..', 'shared', 'models', 'yolox-nano', 'yolox_nano.onnx');
const CDNET = path.join(SHARED_DATA, 'traffic-highway-cdnet', 'input');
const dir = tmpDir();

/** A deterministic rgb24 frame of noise. */
function noiseFrame(width: number, height: number, seed = 7): Buffer {
  const b = Buffer.alloc(width * height * 3);
  let s = seed;
  for (let i = 0; i < b.length; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

/** The letterbox as the detectors' own preprocessing does it (cv2-style bilinear, half-pixel centres), in JavaScript. */
function referenceInput(rgb: Buffer, W: number, H: number, input: DetectorCard['input']): Float32Array {
  const lb = letterbox({ width: W, height: H }, input);
  const out = new Float32Array(3 * input.width * input.height).fill(input.letterbox.pad);
  const order = input.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const at = (x: number, y: number, c: number) => rgb[(y * W + x) * 3 + c];
  for (let oy = 0; oy < lb.height; oy++) {
    const sy = Math.max(0, (oy + 0.5) / lb.sy - 0.5);
    const y0 = Math.min(H - 1, Math.floor(sy));
    const y1 = Math.min(H - 1, y0 + 1);
    const fy = Math.min(1, sy - y0);
    for (let ox = 0; ox < lb.width; ox++) {
      const sx = Math.max(0, (ox + 0.5) / lb.sx - 0.5);
      const x0 = Math.min(W - 1, Math.floor(sx));
      const x1 = Math.min(W - 1, x0 + 1);
      const fx = Math.min(1, sx - x0);
      order.forEach((src, c) => {
        const top = at(x0, y0, src) * (1 - fx) + at(x1, y0, src) * fx;
        const bottom = at(x0, y1, src) * (1 - fx) + at(x1, y1, src) * fx;
        out[(c * input.height + oy + lb.top) * input.width + ox + lb.left] = top * (1 - fy) + bottom * fy;
      });
    }
  }
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < input.width * input.height; i++) {
      const k = c * input.width * input.height + i;
      out[k] = (out[k] * input.scale - input.mean[c]) / input.std[c];
    }
  return out;
}

const yoloxCard = (): DetectorCard => loadDetector(YOLOX).card;

function card(over: { input?: Partial<DetectorCard['input']>; output?: Partial<DetectorCard['output']>; classes?: string[] }): DetectorCard {
  const base = parseCard(
    {
      name: 'fake',
      input: { width: 64, height: 64, channels: 'bgr', letterbox: { pad: 114, place: 'top-left' } },
      output: { layout: 'rows', box: 'cxcywh', objectness: true, decode: 'grid', strides: [8, 16, 32] },
      classes: ['car', 'truck', 'person'],
      vehicles: ['car', 'truck'],
    },
    'test',
  );
  return { ...base, ...over, input: { ...base.input, ...over.input }, output: { ...base.output, ...over.output }, classes: over.classes ?? base.classes };
}

test('letterbox: the frame scaled to fit, aspect kept, padded after it (top-left) or around it (center)', () => {
  const input = yoloxCard().input;
  assert.deepEqual(letterbox({ width: 320, height: 240 }, input), { width: 416, height: 312, left: 0, top: 0, right: 0, bottom: 104, sx: 1.3, sy: 1.3 });
  const centred = letterbox({ width: 640, height: 360 }, { ...input, letterbox: { pad: 114, place: 'center' } });
  assert.deepEqual([centred.width, centred.height, centred.left, centred.top, centred.bottom], [416, 234, 0, 91, 91]);
  const g = gridCells({ width: 416, height: 416 }, [8, 16, 32]);
  assert.equal(g.count, 3549, "YOLOX-nano's 52² + 26² + 13² anchors");
  assert.deepEqual([...g.cells.slice(0, 6)], [0, 0, 1, 0, 2, 0], 'cells go along a row first');
  assert.deepEqual([g.cells[2 * 52], g.cells[2 * 52 + 1], g.strides[2703], g.strides[2704], g.strides[3379], g.strides[3380]], [0, 1, 8, 16, 16, 32]);
});

async function runGraph(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const { session } = await openSession(bytes, { ep: 'cpu' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

for (const [name, input] of [
  ['BGR 0..255, padded 114 below (YOLOX)', card({}).input],
  [
    'RGB in [0, 1] with mean and std, centred, padded 0',
    card({ input: { channels: 'rgb', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], letterbox: { pad: 0, place: 'center' } } }).input,
  ],
  ['taller than wide, downscaled', card({ input: { width: 24, height: 32 } }).input],
] as const) {
  test(`preprocess in the graph = the JavaScript letterbox: ${name}`, async () => {
    const W = 40;
    const H = 30;
    const rgb = noiseFrame(W, H);
    const b = new GraphBuilder('pre');
    const frame = b.input('frame', DataType.UINT8, [H, W, 3]);
    b.opN('Identity', [preprocess(b, frame, { width: W, height: H }, input)], {}, 1, ['x']);
    b.output('x', DataType.FLOAT, [1, 3, input.height, input.width]);
    const r = await runGraph(b.toBytes(11), { frame: new ort.Tensor('uint8', rgb, [H, W, 3]) });
    const got = r.x.data as Float32Array;
    const want = referenceInput(rgb, W, H, input);
    assert.equal(got.length, want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-3 * Math.max(1, 255 * input.scale), `largest difference ${worst}`);
  });
}

/** An ONNX "detector" whose output is `values` whatever the image: [1, anchors, k] (or the layout given). */
function fakeHead(inputSize: { width: number; height: number }, dims: number[], values: Float32Array): Uint8Array {
  const b = new GraphBuilder('fake');
  const images = b.input('images', DataType.FLOAT, [1, 3, inputSize.height, inputSize.width]);
  const zero = b.op('Mul', [b.op('ReduceMean', [images], { keepdims: 0 }), b.f32([0], [])]);
  b.opN('Add', [b.f32(values, dims), zero], {}, 1, ['output']);
  b.output('output', DataType.FLOAT, dims);
  return b.toBytes(11);
}

function randomValues(n: number, lo: number, hi: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) v[i] = lo + ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * (hi - lo);
  return v;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Decodes a head's rows in JavaScript, as YOLOX's demo_postprocess (grid) or a YOLOv8 export (none), back to frame pixels. */
function referenceDecode(rows: (i: number, j: number) => number, anchors: number, c: DetectorCard, frame: { width: number; height: number }) {
  const lb = letterbox(frame, c.input);
  const o = c.output;
  const grid = o.decode === 'grid' ? gridCells(c.input, o.strides!) : null;
  const boxes: number[][] = [];
  const scores: number[][] = [];
  const act = (v: number) => (o.scores === 'logit' ? sigmoid(v) : v);
  for (let i = 0; i < anchors; i++) {
    let [a, b2, cc, d] = [0, 1, 2, 3].map((j) => rows(i, j));
    if (grid) {
      const s = grid.strides[i];
      [a, b2, cc, d] = [(a + grid.cells[2 * i]) * s, (b2 + grid.cells[2 * i + 1]) * s, Math.exp(cc) * s, Math.exp(d) * s];
    }
    const xyxy = o.box === 'cxcywh' ? [a - cc / 2, b2 - d / 2, a + cc / 2, b2 + d / 2] : [a, b2, cc, d];
    boxes.push(xyxy.map((v, k) => Math.min(k % 2 ? frame.height : frame.width, Math.max(0, (v - (k % 2 ? lb.top : lb.left)) / (k % 2 ? lb.sy : lb.sx)))));
    const first = o.objectness ? 5 : 4;
    const obj = o.objectness ? act(rows(i, 4)) : 1;
    scores.push(c.classes.map((_, k) => act(rows(i, first + k)) * obj));
  }
  return { boxes, scores };
}

async function compareHead(c: DetectorCard, dims: number[], values: Float32Array, rows: (i: number, j: number) => number, anchors: number) {
  const frame = { width: 40, height: 30 };
  const fused = encodeModel(buildDetectorModel(decodeModel(fakeHead(c.input, dims, values)), c, frame));
  const r = await runGraph(fused, { frame: new ort.Tensor('uint8', noiseFrame(frame.width, frame.height), [frame.height, frame.width, 3]) });
  const boxes = r.boxes.data as Float32Array;
  const scores = r.scores.data as Float32Array;
  assert.deepEqual(r.boxes.dims, [anchors, 4]);
  assert.deepEqual(r.scores.dims, [anchors, c.classes.length]);
  const want = referenceDecode(rows, anchors, c, frame);
  let worstBox = 0;
  let worstScore = 0;
  for (let i = 0; i < anchors; i++) {
    for (let k = 0; k < 4; k++) worstBox = Math.max(worstBox, Math.abs(boxes[4 * i + k] - want.boxes[i][k]));
    for (let k = 0; k < c.classes.length; k++) worstScore = Math.max(worstScore, Math.abs(scores[i * c.classes.length + k] - want.scores[i][k]));
  }
  assert.ok(worstBox < 1e-3, `boxes differ by up to ${worstBox} px`);
  assert.ok(worstScore < 1e-5, `scores differ by up to ${worstScore}`);
  return { boxes, scores };
}

test('YOLOX-style head decoded in the graph: grid cells and strides, exp sizes, objectness x class, back through the letterbox', async () => {
  const c = card({});
  const K = 4 + 1 + c.classes.length;
  const anchors = gridCells(c.input, [8, 16, 32]).count;
  const values = randomValues(anchors * K, -1, 1, 3);
  for (let i = 0; i < anchors; i++) for (let k = 4; k < K; k++) values[i * K + k] = (values[i * K + k] + 1) / 2; // probabilities
  const { boxes } = await compareHead(c, [1, anchors, K], values, (i, j) => values[i * K + j], anchors);
  for (let i = 0; i < anchors; i++) assert.ok(boxes[4 * i] >= 0 && boxes[4 * i + 2] <= 40 && boxes[4 * i + 3] <= 30, 'boxes stay inside the frame');
});

test('a decoded column head (YOLOv8-style: [1, 4 + classes, anchors], xyxy, no objectness, logits), centred letterbox', async () => {
  const c = card({ input: { letterbox: { pad: 114, place: 'center' } }, output: { layout: 'columns', box: 'xyxy', objectness: false, scores: 'logit', decode: 'none', strides: undefined } });
  const K = 4 + c.classes.length;
  const anchors = 50;
  const values = randomValues(anchors * K, -3, 3, 5);
  for (let i = 0; i < anchors * 4; i++) values[i] = values[i] * 10 + 32; // box corners around the input's middle
  await compareHead(c, [1, K, anchors], values, (i, j) => values[j * anchors + i], anchors);
});

test('YOLOX-nano on a real CDnet frame: the fused graph gives the boxes of the JavaScript letterbox, the raw model and the reference decode', async () => {
  assert.ok(existsSync(YOLOX), `the detector is missing: ${YOLOX} (these tests need ../shared/models)`);
  const img = await readImage(path.join(CDNET, 'in001200.jpg'));
  const detector = await openDetector(YOLOX, img);
  const got = await detector.detect(img.data);
  await detector.close();

  const c = yoloxCard();
  const { session } = await openSession(readFileSync(YOLOX), { ep: 'cpu' });
  const x = referenceInput(img.data, img.width, img.height, c.input);
  const out = (await session.run({ images: new ort.Tensor('float32', x, [1, 3, 416, 416]) })).output.data as Float32Array;
  await session.release();
  const ref = referenceDecode((i, j) => out[i * 85 + j], 3549, c, img);
  const vehicles = ['car', 'motorcycle', 'bus', 'truck'].map((n) => c.classes.indexOf(n));
  const want = nms(candidates(Float32Array.from(ref.boxes.flat()), Float32Array.from(ref.scores.flat()), 80, vehicles, 0.3, c.classes), 0.45);

  assert.ok(got.length >= 2, `cars on the highway: ${JSON.stringify(got)}`);
  assert.equal(got.length, want.length, `fused ${JSON.stringify(got)}\nreference ${JSON.stringify(want)}`);
  got.forEach((d, i) => {
    assert.equal(d.label, want[i].label);
    assert.ok(Math.abs(d.score - want[i].score) < 0.02, `score ${d.score} vs ${want[i].score}`);
    d.box.forEach((v, k) => assert.ok(Math.abs(v - want[i].box[k]) < 1, `box ${d.box} vs ${want[i].box}`));
  });
});

async function refused(spec: string, message: RegExp): Promise<void> {
  await assert.rejects(
    async () => (await openDetector(spec, { width: 40, height: 30 })).close(),
    (err: Error) => err instanceof UserError && err.exitCode === 2 && message.test(err.message) && !err.message.includes('\n'),
  );
}

test('detectors refused in one line: missing, not ONNX, not a detector, a head that is not the card, malformed cards', async () => {
  await refused(path.join(dir, 'nowhere.onnx'), /^detector not found: .*nowhere\.onnx/);
  const text = path.join(dir, 'text.onnx');
  writeFileSync(text, 'not a model at all\n');
  await refused(text, /text\.onnx is not an ONNX model/);
  // a deraining-style network: an image in, an image out
  const b = new GraphBuilder('image');
  const images = b.input('images', DataType.FLOAT, [1, 3, 'h', 'w']);
  b.opN('Relu', [images], {}, 1, ['out']);
  b.output('out', DataType.FLOAT, [1, 3, 'h', 'w']);
  const imageModel = path.join(dir, 'image.onnx');
  writeFileSync(imageModel, b.toBytes(11));
  await refused(imageModel, /image\.onnx is not a detector as YOLOX defaults .* describes it: its output is 1x3x\?x\?, expected 1x3549x85/);
  // a YOLOX head with 3 classes, read with the 80-class defaults, then with its own card
  const head = path.join(dir, 'head.onnx');
  writeFileSync(head, fakeHead({ width: 64, height: 64 }, [1, 84, 8], new Float32Array(84 * 8)));
  await refused(head, /its output is 1x84x8, expected 1x84x85 \(box, objectness, 80 classes\)/);
  const cardFile = path.join(dir, 'head.json');
  const good = {
    name: 'head',
    onnx: 'head.onnx',
    input: { width: 64, height: 64, channels: 'bgr' },
    output: { objectness: true, decode: 'grid', strides: [8, 16, 32] },
    classes: ['car', 'truck', 'bus'],
    vehicles: ['car'],
  };
  writeFileSync(cardFile, JSON.stringify(good));
  const d = await openDetector(cardFile, { width: 40, height: 30 });
  assert.deepEqual(await d.detect(noiseFrame(40, 30)), [], 'all-zero scores: nothing found');
  await d.close();
  for (const [bad, message] of [
    [{ ...good, input: { ...good.input, channels: 'grb' } }, /^detector card .*head\.json: input\.channels: /],
    [{ ...good, output: { objectness: true, decode: 'grid' } }, /output\.strides: decode "grid" needs strides/],
    [{ ...good, vehicles: ['tank'] }, /vehicles: every vehicle class must be one of classes/],
    [{ ...good, colour: 'red' }, /head\.json: .*colour/],
    [{ ...good, onnx: 'gone.onnx' }, /its ONNX file .*gone\.onnx is missing/],
    [{ ...good, input: { ...good.input, width: 96 } }, /its input is 1x3x64x64, the card says 96x64/],
  ] as const) {
    writeFileSync(cardFile, JSON.stringify(bad));
    await refused(cardFile, message);
  }
  writeFileSync(cardFile, '{ "name": ');
  await refused(cardFile, /head\.json is not valid JSON/);
});
