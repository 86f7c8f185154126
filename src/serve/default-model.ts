// The model a stream runs when its config names none. As for `derain run` (default-model.ts
// in src/infer), except that a live service never picks by default a model that cannot keep
// up on the hardware: on a CPU without the project's real-time model, the quality model
// (MAXIM, seconds per frame) would leave every stream frozen, so the built-in network runs
// and the log says why.
import { BUILTIN_NAME } from '../infer/builtin-model.js';
import { CPU_DEFAULT, QUALITY_DEFAULT, defaultModelName, runsOnGpu } from '../infer/default-model.js';
import type { EpChoice } from '../infer/session.js';

export function serveDefaultModel(ep: EpChoice): { name: string; note?: string } {
  const name = defaultModelName(ep);
  if (process.env.DERAIN_DEFAULT_MODEL) return { name };
  if (name === QUALITY_DEFAULT && !runsOnGpu(ep)) {
    return {
      name: BUILTIN_NAME,
      note: `no real-time CPU model (${CPU_DEFAULT}) is installed and ${QUALITY_DEFAULT} takes seconds per frame on a CPU: running ${BUILTIN_NAME}, which removes no rain (set model: in the config to choose)`,
    };
  }
  return { name };
}
