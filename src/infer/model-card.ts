// Model cards (models/<name>/card.json) and the resolution of --model to a base ONNX model.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError } from './errors.js';
import { BUILTIN_MODELS, BUILTIN_MULTIPLE, BUILTIN_NAME, buildBuiltinModel } from './builtin-model.js';
import { modelInputs } from './graph-merge.js';
import { decodeModel, type ModelProto } from './onnx-proto.js';
import { ensureImported } from './tfjs/import-model.js';

export interface ModelCard {
  name: string;
  /** ONNX file, relative to the card's folder */
  onnx?: string;
  /** the command that builds the ONNX file when it is generated, not committed */
  build?: string;
  input: string;
  output: 'image' | 'residual';
  sizeMultiple: number;
  /** frames the model takes: the current one, then frames − 1 past ones stacked on its input channels (t−1 first); default 1 */
  frames?: number;
  /** recommended inference size [width, height]: larger frames are scaled down to fit inside it */
  inferSize?: [number, number];
  provenance?: string;
  license?: string;
  quality?: Record<string, unknown>;
  speed?: Record<string, unknown>;
}

export interface ResolvedModel {
  card: ModelCard;
  /** where the ONNX came from (a path, or "built-in") */
  source: string;
  load(): ModelProto;
  /** fixed input [height, width] of the model, when it has one */
  fixedSize?: [number, number];
}

export const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');
/** metadata key of a card embedded in an ONNX file */
export const EMBEDDED_CARD_KEY = 'derain.card';

const DEFAULT_CARD: Omit<ModelCard, 'name'> = {
  input: 'NCHW float32 RGB [0,1]',
  output: 'image',
  // Deep U-Nets downsample up to 32×; padding to 32 is cheap and safe for most exports.
  sizeMultiple: 32,
};

const BUILTIN_CARD: ModelCard = {
  name: BUILTIN_NAME,
  input: 'NCHW float32 RGB [0,1]',
  output: 'residual',
  sizeMultiple: BUILTIN_MULTIPLE,
  inferSize: [640, 360],
  provenance: 'built by the graph builder from seeded random weights (src/infer/builtin-model.ts); removes no rain — a test model',
  license: 'MIT (this project)',
};

function validateCard(raw: unknown, where: string): ModelCard {
  const c = raw as Partial<ModelCard>;
  const bad = (field: string, want: string) => new ModelError(`model card ${where}: "${field}" must be ${want}`);
  if (!c || typeof c !== 'object') throw new ModelError(`model card ${where}: not a JSON object`);
  if (typeof c.name !== 'string' || !c.name) throw bad('name', 'a non-empty string');
  if (c.output !== 'image' && c.output !== 'residual') throw bad('output', '"image" or "residual"');
  if (c.sizeMultiple !== undefined && !(Number.isInteger(c.sizeMultiple) && c.sizeMultiple >= 1)) throw bad('sizeMultiple', 'a positive integer');
  if (c.frames !== undefined && !(Number.isInteger(c.frames) && c.frames >= 1 && c.frames <= 8)) throw bad('frames', 'a whole number from 1 to 8');
  if (c.inferSize !== undefined && !(Array.isArray(c.inferSize) && c.inferSize.length === 2 && c.inferSize.every((n) => Number.isInteger(n) && n > 0)))
    throw bad('inferSize', '[width, height] in pixels');
  return { ...DEFAULT_CARD, ...c } as ModelCard;
}

export function readCard(file: string): ModelCard {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelError(`model card ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateCard(raw, file);
}

function loadOnnx(file: string): ModelProto {
  let model: ModelProto;
  try {
    model = decodeModel(readFileSync(file));
  } catch (err) {
    // (protobufjs says only "index out of range: a + b > c" when the bytes stop inside a field)
    const cut = /index out of range/.test((err as Error).message) ? 'it ends inside a field: a truncated download or copy? ' : '';
    throw new ModelError(`${file} is not an ONNX model (${cut}${(err as Error).message})`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) throw new ModelError(`${file} is not an ONNX model (it has no graph)`);
  if (modelInputs(model).length !== 1) throw new ModelError(`${file}: a deraining model needs exactly one image input, this one has ${modelInputs(model).length}`);
  return model;
}

/** The card an exporter embedded in the ONNX metadata (models/fclip_unet/export.py does), if any. */
function embeddedCard(model: ModelProto, file: string): ModelCard | undefined {
  const entry = (model.metadataProps ?? []).find((p) => p.key === EMBEDDED_CARD_KEY);
  if (!entry?.value) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(entry.value);
  } catch (err) {
    throw new ModelError(`${file}: its embedded model card is not valid JSON: ${(err as Error).message}`);
  }
  return validateCard(raw, `${file} (embedded)`);
}

function fromOnnxFile(file: string, cardOrDefault: ModelCard | ((m: ModelProto) => ModelCard)): ResolvedModel {
  const named = typeof cardOrDefault === 'function' ? undefined : cardOrDefault;
  if (!existsSync(file)) {
    const card = named ?? { ...DEFAULT_CARD, name: path.basename(file) };
    const hint = card.build ? ` (build it with: ${card.build})` : '';
    throw new ModelError(`model ${card.name}: ONNX file ${file} is missing${hint}`);
  }
  const peek = loadOnnx(file);
  const card = typeof cardOrDefault === 'function' ? cardOrDefault(peek) : cardOrDefault;
  const dims = modelInputs(peek)[0].dims;
  const fixed = typeof dims[2] === 'number' && typeof dims[3] === 'number' ? ([dims[2], dims[3]] as [number, number]) : undefined;
  let first: ModelProto | null = peek;
  return {
    card,
    source: file,
    fixedSize: fixed,
    // The fused graph consumes the model it embeds: hand out the peeked copy once, then reload.
    load: () => {
      const m = first ?? loadOnnx(file);
      first = null;
      return m;
    },
  };
}

/** Resolves a model name (built-in or models/<name>), a folder with card.json, or an ONNX file. */
export function resolveModel(name: string): ResolvedModel {
  const builtin = BUILTIN_MODELS[name];
  if (builtin) return { card: { ...BUILTIN_CARD, name }, source: 'built-in', load: () => buildBuiltinModel(builtin) };

  const asDir = existsSync(name) && statSync(name).isDirectory() ? name : path.join(MODELS_DIR, name);
  const cardFile = path.join(asDir, 'card.json');
  if (!name.endsWith('.onnx') && existsSync(cardFile)) {
    const card = readCard(cardFile);
    const file = path.join(asDir, card.onnx ?? 'model.onnx');
    // A generated model (the card says what to import) is built on first use.
    ensureImported(card, asDir, file);
    return fromOnnxFile(file, card);
  }

  if (existsSync(name) && statSync(name).isFile()) {
    const besideCard = path.join(path.dirname(name), 'card.json');
    if (existsSync(besideCard)) {
      const card = readCard(besideCard);
      if (path.basename(card.onnx ?? 'model.onnx') === path.basename(name)) return fromOnnxFile(name, card);
    }
    const namedCard = name.replace(/\.onnx$/, '') + '.card.json';
    if (existsSync(namedCard)) return fromOnnxFile(name, readCard(namedCard));
    return fromOnnxFile(name, (m) => embeddedCard(m, name) ?? { ...DEFAULT_CARD, name: path.basename(name, '.onnx') });
  }
  if (!name.endsWith('.onnx') && existsSync(asDir) && statSync(asDir).isDirectory()) {
    const onnx = readdirSync(asDir).filter((f) => f.endsWith('.onnx'));
    const hint = onnx.length ? `; or name its ONNX file (${path.join(asDir, onnx[0])}) to run it with default settings` : '';
    throw new ModelError(`model folder ${asDir} has no card.json: a model folder needs its card (see models/README.md)${hint}`);
  }
  throw new ModelError(`unknown model "${name}": not a built-in model (${Object.keys(BUILTIN_MODELS).join(', ')}), a folder under models/, or an existing ONNX file`);
}
