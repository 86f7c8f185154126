// `derain models import`: builds a card's ONNX file from the TensorFlow.js graph model its
// "import" field names (in an npm package, or a path beside the card). Generated, never committed.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ModelError } from '../errors.js';
import { encodeModel, onnx } from '../onnx-proto.js';
import { convertGraphModel } from './convert.js';
import { readGraphModel } from './graph-model.js';

/** A card's "import" field: where its TensorFlow.js graph model is. */
export interface ImportSpec {
  /** an npm package that ships the model, with `path` the model.json inside it */
  npm?: string;
  path?: string;
  /** or a model.json path, relative to the card's folder */
  tfjs?: string;
}

export interface ImportResult {
  file: string;
  from: string;
  seconds: number;
  bytes: number;
  nodes: number;
}

function packageRoot(name: string): { root: string; version: string } {
  // Packages that declare "exports" hide package.json from require.resolve: search the lookup paths instead.
  const req = createRequire(import.meta.url);
  for (const dir of req.resolve.paths(name) ?? []) {
    const pkg = path.join(dir, name, 'package.json');
    if (existsSync(pkg)) return { root: path.dirname(pkg), version: String(JSON.parse(readFileSync(pkg, 'utf8')).version ?? '?') };
  }
  throw new ModelError(`npm package ${name} is not installed (run npm ci)`);
}

/** The model.json a card imports from, and a label for its provenance. */
export function importSource(spec: ImportSpec, cardDir: string, model: string): { modelJson: string; label: string } {
  if (spec.npm) {
    const { root, version } = packageRoot(spec.npm);
    return { modelJson: path.join(root, spec.path ?? 'model.json'), label: `${spec.npm}@${version}/${spec.path ?? 'model.json'}` };
  }
  if (spec.tfjs) return { modelJson: path.resolve(cardDir, spec.tfjs), label: spec.tfjs };
  throw new ModelError(`model ${model}: its card's "import" field names neither an npm package ("npm") nor a model.json ("tfjs")`);
}

/** Converts the TensorFlow.js model to ONNX and writes it to `outFile` (atomically: a reader never sees half a file). */
export function importTfjsModel(modelJson: string, outFile: string, label = modelJson): ImportResult {
  const started = performance.now();
  const model = convertGraphModel(readGraphModel(modelJson), { io: 'image', where: modelJson });
  model.docString = `imported from the TensorFlow.js graph model ${label} by derain models import`;
  model.metadataProps = [new onnx.StringStringEntryProto({ key: 'derain.imported_from', value: label })];
  const bytes = encodeModel(model);
  mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, outFile);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${outFile}: ${(err as Error).message}`, { cause: err });
  }
  return { file: outFile, from: label, seconds: (performance.now() - started) / 1000, bytes: bytes.byteLength, nodes: model.graph!.node!.length };
}

/** The card's "import" field, when it has one. */
export function importSpecOf(card: object): ImportSpec | undefined {
  const spec = (card as { import?: unknown }).import;
  return spec && typeof spec === 'object' ? (spec as ImportSpec) : undefined;
}

/**
 * Builds a card's missing ONNX file on first use, when the card says how to import it.
 * Returns whether it built one.
 */
export function ensureImported(card: { name: string }, cardDir: string, onnxFile: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): boolean {
  const spec = importSpecOf(card);
  if (!spec || existsSync(onnxFile)) return false;
  const { modelJson, label } = importSource(spec, cardDir, card.name);
  log(`derain: building ${path.relative(process.cwd(), onnxFile) || onnxFile} from ${label} (first use of ${card.name}; once)`);
  importTfjsModel(modelJson, onnxFile, label);
  return true;
}
