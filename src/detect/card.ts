// Detector cards: what it takes to run an ONNX object detector on a camera frame and read its
// boxes back. The field names cover the common single-output heads: YOLOX (grid cells and
// strides to decode, objectness), and the already-decoded heads of YOLOv5 (rows, objectness) and
// YOLOv8 (columns, no objectness). A bare .onnx file gets the YOLOX/COCO card of
// detectors/yolox-nano.json, checked against its graph when it is opened.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { MODELS_DIR } from '../infer/index.js';
import { fieldPath } from '../util/fields.js';

const whole = () => z.number().int('must be a whole number').min(1, 'must be at least 1');
const unit = () => z.number().min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]');
const triple = () => z.tuple([z.number(), z.number(), z.number()]);

const schema = z
  .strictObject({
    name: z.string().min(1),
    /** the ONNX file, relative to the card's folder */
    onnx: z.string().min(1).optional(),
    about: z.string().optional(),
    input: z.strictObject({
      width: whole(),
      height: whole(),
      /** the order the network wants its three channels in */
      channels: z.enum(['rgb', 'bgr']),
      /** pixel values 0..255 are multiplied by it (1/255 for networks that take [0, 1]) */
      scale: z.number().positive().default(1),
      /** then (x - mean) / std per channel, in the network's channel order */
      mean: triple().default([0, 0, 0]),
      std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([1, 1, 1]),
      /** the frame is scaled to fit, aspect kept, and padded with this value (0..255) */
      letterbox: z.strictObject({ pad: z.number().min(0).max(255).default(114), place: z.enum(['top-left', 'center']).default('center') }).default({ pad: 114, place: 'center' }),
    }),
    output: z
      .strictObject({
        /** rows: [1, anchors, values]; columns: [1, values, anchors] (YOLOv8) */
        layout: z.enum(['rows', 'columns']).default('rows'),
        /** the first four values of an anchor */
        box: z.enum(['cxcywh', 'xyxy']).default('cxcywh'),
        /** a value after the box that multiplies every class score */
        objectness: z.boolean(),
        /** class (and objectness) values: probabilities, or logits to pass through a sigmoid */
        scores: z.enum(['probability', 'logit']).default('probability'),
        /** grid: xy = (xy + cell) * stride, wh = exp(wh) * stride (YOLOX); none: boxes are in input pixels already */
        decode: z.enum(['grid', 'none']),
        /** grid: the strides of the feature maps, in the order their cells are listed */
        strides: z.array(whole()).min(1).optional(),
      })
      .refine((o) => o.decode !== 'grid' || o.strides, { message: 'decode "grid" needs strides', path: ['strides'] }),
    classes: z.array(z.string().min(1)).min(1),
    /** the class names that count as vehicles */
    vehicles: z.array(z.string()).optional(),
    thresholds: z.strictObject({ score: unit().default(0.3), nms: unit().default(0.45) }).default({ score: 0.3, nms: 0.45 }),
  })
  .refine((c) => (c.vehicles ?? []).every((v) => c.classes.includes(v)), { message: 'every vehicle class must be one of classes', path: ['vehicles'] });

export type DetectorCard = z.output<typeof schema>;

export interface LoadedDetector {
  card: DetectorCard;
  /** the ONNX file */
  onnx: string;
  /** where the card came from: a card file, or the YOLOX defaults for a bare ONNX file */
  source: string;
}

/** The committed card of YOLOX-nano; its decoding is what a bare .onnx file is read with. */
export const DEFAULT_CARD = path.resolve(MODELS_DIR, '..', 'detectors', 'yolox-nano.json');

export function parseCard(raw: unknown, where: string): DetectorCard {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const at = fieldPath(first.path);
  throw new UserError(`detector card ${where}: ${at ? `${at}: ` : ''}${first.message}`);
}

function readCard(file: string): DetectorCard {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`detector card ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCard(raw, file);
}

/**
 * A detector by its card (.json, whose onnx is relative to it) or its ONNX file (with the YOLOX
 * defaults); unset: the committed YOLOX-nano card.
 */
export function loadDetector(spec?: string): LoadedDetector {
  const file = spec ?? DEFAULT_CARD;
  if (!existsSync(file)) throw new UserError(`detector not found: ${file} (give a detector card .json or an ONNX file)`);
  if (statSync(file).isDirectory()) throw new UserError(`detector ${file} is a folder: give a detector card .json or an ONNX file`);
  if (/\.json$/i.test(file)) {
    const card = readCard(file);
    if (!card.onnx) throw new UserError(`detector card ${file}: onnx: missing (the ONNX file, relative to the card)`);
    const onnx = path.resolve(path.dirname(file), card.onnx);
    if (!existsSync(onnx)) throw new UserError(`detector card ${file}: its ONNX file ${onnx} is missing`);
    return { card, onnx, source: `card ${file}` };
  }
  const defaults = readCard(DEFAULT_CARD);
  const card: DetectorCard = { ...defaults, name: path.basename(file).replace(/\.onnx$/i, ''), onnx: undefined, about: undefined };
  return { card, onnx: path.resolve(file), source: `YOLOX defaults (${path.basename(DEFAULT_CARD)})` };
}

/** Class ids of a class choice: "vehicles" (the card's), "all", or names separated by commas. */
export function chooseClasses(card: DetectorCard, choice = 'vehicles'): number[] {
  if (choice === 'all') return card.classes.map((_, i) => i);
  const names = choice === 'vehicles' ? card.vehicles : choice.split(',').map((s) => s.trim());
  if (!names || names.length === 0) throw new UserError(`detector ${card.name}: its card names no vehicle classes: give --classes`);
  return names.map((n) => {
    const i = card.classes.indexOf(n);
    if (i < 0) throw new UserError(`--classes: ${card.name} has no class "${n}" (it has ${card.classes.slice(0, 6).join(', ')}, …)`);
    return i;
  });
}
