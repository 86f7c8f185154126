// The one front for choosing and opening a model: which model runs when none is named (CPU, GPU,
// DERAIN_DEFAULT_MODEL; a live service never defaults to one that cannot keep up), the fused
// graph for a frame size, the inference session, and the errors a user can act on.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { batchLimit, type BatchSetting } from './batch-setting.js';
import { BUILTIN_NAME } from './builtin-model.js';
import { Derainer } from './derainer.js';
import { EpUnavailableError, ModelError } from './errors.js';
import { chooseInferSize, type InferSizeRequest, type Size } from './infer-size.js';
import { MODELS_DIR, resolveModel, type ModelCard } from './model-card.js';
import type { ModelSettings } from './model-settings.js';
import { prepareModel } from './prepare-model.js';
import { epUnavailableReason, gpuProvidersInstalled, type EpChoice } from './session.js';

/** Rain100H 30.86 dB / 0.903 where PReNet measures 29.49 dB (models/maxim-derain/card.json); seconds per frame on CPU. */
export const QUALITY_DEFAULT = 'maxim-derain';
/**
 * The project's own temporal model, trained with models/fclip_unet (five frames in, the past carried
 * by the fused graph): above the single-frame fclip-unet-lite2 on the video benchmark overall and on
 * moving pixels since its stage 5 (models/fclip-unet-lite2-t5/card.json).
 */
export const CPU_DEFAULT = 'fclip-unet-lite2-t5';

/** "file": runs and evaluations, any speed; "live": a camera that must be kept up with. */
export type ModelPurpose = 'file' | 'live';

export interface ModelChoice {
  name: string;
  /** why this is not the model one would expect (the live fallback) */
  note?: string;
}

function available(name: string): boolean {
  return existsSync(path.join(MODELS_DIR, name, 'card.json'));
}

/** A GPU provider asked for, or `auto` where onnxruntime was installed with its GPU providers. */
export function runsOnGpu(ep: EpChoice): boolean {
  return ep === 'cuda' || ep === 'tensorrt' || (ep === 'auto' && gpuProvidersInstalled());
}

/**
 * The model to run. A named one is taken as is. Otherwise DERAIN_DEFAULT_MODEL (tests pin the
 * small built-in with it), else on a CPU the project's real-time model, on a GPU the best-quality
 * one. `auto` counts as a GPU where onnxruntime was installed with its GPU providers. A live
 * stream on a CPU without the real-time model gets the built-in network and a note, because the
 * quality model takes seconds a frame there and would leave every stream frozen.
 */
export function chooseModel(model: string | undefined, ep: EpChoice, purpose: ModelPurpose = 'file'): ModelChoice {
  if (model) return { name: model };
  if (process.env.DERAIN_DEFAULT_MODEL) return { name: process.env.DERAIN_DEFAULT_MODEL };
  if (runsOnGpu(ep)) return { name: QUALITY_DEFAULT };
  if (available(CPU_DEFAULT)) return { name: CPU_DEFAULT };
  if (purpose === 'live')
    return {
      name: BUILTIN_NAME,
      note: `no real-time CPU model (${CPU_DEFAULT}) is installed and ${QUALITY_DEFAULT} takes seconds per frame on a CPU: running ${BUILTIN_NAME}, which removes no rain (set model: in the config to choose)`,
    };
  return { name: QUALITY_DEFAULT };
}

export interface OpenedModel {
  derainer: Derainer;
  card: ModelCard;
  /** where the ONNX came from (a path, or "built-in") */
  source: string;
  infer: Size;
  /** the execution provider that runs it, and why the ones before it were passed over */
  ep: string;
  skippedEps: string[];
  note?: string;
}

export interface OpenOptions {
  purpose?: ModelPurpose;
  /** the inference size request, when the caller decides it (eval: full resolution by default) */
  request?: Omit<InferSizeRequest, 'recommended' | 'fixed'>;
  /** frames of several streams one run may take (a shared session); unset or 1: one at a time */
  batch?: BatchSetting;
}

/** Chooses, prepares and opens the model of `settings` for frames of `frame` size. */
export async function openModel(settings: ModelSettings, frame: Size, opts: OpenOptions = {}): Promise<OpenedModel> {
  const purpose = opts.purpose ?? 'file';
  const req = opts.request ?? { inferSize: settings.inferSize, scale: settings.scale };
  const chosen = chooseModel(settings.model, settings.ep, purpose);
  // (a limit of one, also `auto` where no GPU can run it, is the one-frame graph of `derain run`)
  const batch = opts.batch === undefined || batchLimit(opts.batch, runsOnGpu(settings.ep)) === 1 ? undefined : opts.batch;
  const graphBatch = batch === undefined ? undefined : 'dynamic';
  let note = chosen.note;
  let prepared;
  try {
    prepared = prepareModel(chosen.name, frame, req, graphBatch);
  } catch (err) {
    // A service must start: if its default model is not there (its ONNX is built by a command),
    // it runs the built-in network and says so.
    if (!(err instanceof ModelError) || settings.model || purpose !== 'live' || chosen.name === BUILTIN_NAME || process.env.DERAIN_DEFAULT_MODEL) throw err;
    prepared = prepareModel(BUILTIN_NAME, frame, req, graphBatch);
    note = `the default model ${chosen.name} is not available (${err.message}); running ${BUILTIN_NAME}, which removes no rain`;
  }
  let derainer: Derainer;
  try {
    derainer = await Derainer.open({
      model: prepared.fused,
      width: frame.width,
      height: frame.height,
      ep: settings.ep,
      threads: settings.threads,
      smooth: settings.smooth,
      past: prepared.past,
      batch,
    });
  } catch (err) {
    if (err instanceof ModelError) throw new ModelError(`model ${prepared.card.name} (${prepared.source}) ${err.message}`);
    throw err;
  }
  return { derainer, card: prepared.card, source: prepared.source, infer: prepared.infer, ep: derainer.ep, skippedEps: derainer.skippedEps, note };
}

/**
 * What can be known before a stream starts, checked as openModel would find it: the provider is
 * installed, a named model resolves (its card and ONNX file), and an inference size fits a frame
 * size known in advance. Throws the same typed errors; a missing default is not an error for a
 * live stream (it falls back).
 */
export function checkModel(settings: Omit<ModelSettings, 'smooth'>, frame?: Size): void {
  const why = epUnavailableReason(settings.ep);
  if (why) throw new EpUnavailableError(`execution provider ${settings.ep} is not available: ${why}`);
  if (settings.model) {
    const resolved = resolveModel(settings.model);
    if (frame && !resolved.fixedSize) chooseInferSize(frame, { inferSize: settings.inferSize, scale: settings.scale });
  } else if (frame) chooseInferSize(frame, { inferSize: settings.inferSize, scale: settings.scale });
}
