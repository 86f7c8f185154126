// Runs a detector card in onnxruntime on rgb24 frames of one size: the fused graph
// (detector-graph.ts) does the pixels, this file the boxes. The ONNX file is checked against its
// card first, so a file that is not such a detector says so in one line.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { decodeModel, encodeModel, openSession, type EpChoice, type ModelProto } from '../infer/index.js';
import { candidates, nms, type Detection } from './boxes.js';
import { chooseClasses, type DetectorCard, type LoadedDetector } from './card.js';
import { DETECTOR_IO, buildDetectorModel } from './detector-graph.js';
import { headShape } from './letterbox.js';

export interface DetectorOptions {
  ep?: EpChoice;
  threads?: number;
  /** "vehicles" (default), "all", or class names separated by commas */
  classes?: string;
  /** default: the card's */
  score?: number;
  nmsIou?: number;
  /** NMS across the chosen classes (default) or within each */
  classAgnostic?: boolean;
}

type Dims = readonly (number | string)[];
const fmt = (d: Dims) => d.map((v) => (typeof v === 'number' && v > 0 ? v : '?')).join('x');
const fixed = (v: number | string | undefined): v is number => typeof v === 'number' && v > 0;

function dimsOf(m: ort.InferenceSession.ValueMetadata | undefined): Dims {
  return m && m.isTensor ? m.shape : [];
}

/** The card, checked against the graph (for the YOLOX defaults of a bare ONNX file, its fixed input size is taken). */
async function checkedCard(loaded: LoadedDetector, bytes: Uint8Array): Promise<DetectorCard> {
  const file = loaded.onnx;
  let probe;
  try {
    probe = (await openSession(bytes, { ep: 'cpu', threads: 1 })).session;
  } catch (err) {
    throw new UserError(`${file} cannot be loaded by onnxruntime: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    let card = loaded.card;
    if (probe.inputNames.length !== 1) throw new UserError(`${file} is not a detector: it has ${probe.inputNames.length} inputs, a detector card describes one image input`);
    const inDims = dimsOf(probe.inputMetadata[0]);
    if (inDims.length !== 4 || (fixed(inDims[1]) && inDims[1] !== 3)) throw new UserError(`${file} is not a detector: its input is ${fmt(inDims)}, not an image batch 1x3xHxW (${loaded.source})`);
    if (!card.onnx && fixed(inDims[2]) && fixed(inDims[3])) card = { ...card, input: { ...card.input, height: inDims[2], width: inDims[3] } };
    for (const [i, want] of [
      [2, card.input.height],
      [3, card.input.width],
    ] as const)
      if (fixed(inDims[i]) && inDims[i] !== want) throw new UserError(`${file}: its input is ${fmt(inDims)}, the card says ${card.input.width}x${card.input.height} (${loaded.source})`);
    const outDims = dimsOf(probe.outputMetadata[0]);
    const { anchors, values } = headShape(card);
    const [a, v] = card.output.layout === 'columns' ? [outDims[2], outDims[1]] : [outDims[1], outDims[2]];
    const expected = card.output.layout === 'columns' ? `1x${values}x${anchors ?? 'anchors'}` : `1x${anchors ?? 'anchors'}x${values}`;
    const fits = outDims.length === 3 && (!fixed(v) || v === values) && (anchors === null || !fixed(a) || a === anchors);
    if (!fits)
      throw new UserError(
        `${file} is not a detector as ${loaded.source} describes it: its output is ${fmt(outDims)}, expected ${expected} (box, ${card.output.objectness ? 'objectness, ' : ''}${card.classes.length} classes); describe its head in a detector card`,
      );
    return card;
  } finally {
    await probe.release();
  }
}

export class Detector {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly card: DetectorCard,
    readonly width: number,
    readonly height: number,
    readonly ep: string,
    readonly classIds: number[],
    readonly score: number,
    readonly nmsIou: number,
    readonly classAgnostic: boolean,
  ) {}

  /** the names of the classes it reports */
  get classes(): string[] {
    return this.classIds.map((c) => this.card.classes[c]);
  }

  /** Opens `loaded` for rgb24 frames of `size`. */
  static async open(loaded: LoadedDetector, size: { width: number; height: number }, opts: DetectorOptions = {}): Promise<Detector> {
    let bytes: Uint8Array;
    let base: ModelProto;
    try {
      bytes = readFileSync(loaded.onnx);
      base = decodeModel(bytes);
    } catch (err) {
      throw new UserError(`${loaded.onnx} is not an ONNX model (${(err as Error).message.split('\n')[0]})`);
    }
    if (!base.graph || (base.graph.node ?? []).length === 0) throw new UserError(`${loaded.onnx} is not an ONNX model (it has no graph)`);
    const card = await checkedCard(loaded, bytes);
    const classIds = chooseClasses(card, opts.classes);
    let opened;
    try {
      opened = await openSession(encodeModel(buildDetectorModel(base, card, size)), { ep: opts.ep ?? 'cpu', threads: opts.threads });
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`detector ${card.name} (${loaded.onnx}) cannot run as its card describes it: ${(err as Error).message.split('\n')[0]}`);
    }
    const score = opts.score ?? card.thresholds.score;
    const nmsIou = opts.nmsIou ?? card.thresholds.nms;
    return new Detector(opened.session, card, size.width, size.height, opened.ep, classIds, score, nmsIou, opts.classAgnostic ?? true);
  }

  /** The detections of one rgb24 frame (HWC, this detector's size), highest score first. */
  async detect(rgb: Uint8Array): Promise<Detection[]> {
    if (rgb.length !== this.width * this.height * 3) throw new Error(`detector opened for ${this.width}x${this.height} frames got ${rgb.length} bytes`);
    const frame = new ort.Tensor('uint8', rgb, [this.height, this.width, 3]);
    const r = await this.session.run({ [DETECTOR_IO.frame]: frame });
    const boxes = r[DETECTOR_IO.boxes].data as Float32Array;
    const scores = r[DETECTOR_IO.scores].data as Float32Array;
    const found = candidates(boxes, scores, this.card.classes.length, this.classIds, this.score, this.card.classes);
    return nms(found, this.nmsIou, this.classAgnostic);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
