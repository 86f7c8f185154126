// The model used when none is named (`derain run` without --model): on a CPU, the project's own
// real-time model; on a GPU, the best-quality one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MODELS_DIR } from './model-card.js';
import { gpuProvidersInstalled, type EpChoice } from './session.js';

/** Rain100H 30.86 dB / 0.903 where PReNet measures 29.49 dB (models/maxim-derain/card.json); seconds per frame on CPU. */
export const QUALITY_DEFAULT = 'maxim-derain';
/** The project's own model, trained with models/fclip_unet: real time on two CPU cores. */
export const CPU_DEFAULT = 'fclip-unet-lite';

function available(name: string): boolean {
  return existsSync(path.join(MODELS_DIR, name, 'card.json'));
}

/** A GPU provider asked for, or `auto` where onnxruntime was installed with its GPU providers. */
export function runsOnGpu(ep: EpChoice): boolean {
  return ep === 'cuda' || ep === 'tensorrt' || (ep === 'auto' && gpuProvidersInstalled());
}

/**
 * The default model for an execution-provider choice. `auto` counts as a GPU when onnxruntime
 * was installed with its GPU providers (ONNXRUNTIME_NODE_INSTALL=cuda12): that install is made
 * for a GPU machine. DERAIN_DEFAULT_MODEL overrides it (tests pin the small built-in with it).
 */
export function defaultModelName(ep: EpChoice): string {
  if (process.env.DERAIN_DEFAULT_MODEL) return process.env.DERAIN_DEFAULT_MODEL;
  if (!runsOnGpu(ep) && available(CPU_DEFAULT)) return CPU_DEFAULT;
  return QUALITY_DEFAULT;
}
