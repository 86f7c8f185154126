// The model used when none is named (`derain run` without --model). One place, so that a fast
// CPU model can later take over on CPU while GPUs keep the heavier one.
import type { EpChoice } from './session.js';

/** Rain100H 30.4 dB where PReNet measures 29.49 (models/maxim-derain/card.json); heavy on CPU. */
export const QUALITY_DEFAULT = 'maxim-derain';

/** The default model for an execution-provider choice; DERAIN_DEFAULT_MODEL overrides it (tests pin the small built-in with it). */
export function defaultModelName(_ep: EpChoice): string {
  return process.env.DERAIN_DEFAULT_MODEL || QUALITY_DEFAULT;
}
