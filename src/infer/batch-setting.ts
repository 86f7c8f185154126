// How many frames of streams sharing a session one inference run takes: `batch: auto | n` in the
// serve config. Measured with bench/batch.ts (README, `derain serve`, "Batches"): on the 2-core
// CPU a batch of 2 or 4 costs 8-27 % more per frame than frames one at a time at the default
// model and size, and serve's total with two cameras was no higher, so `auto` runs one frame at
// a time on a CPU. On a GPU a batch is what keeps the device busy, so `auto` takes up to 8.
export type BatchSetting = 'auto' | number;

export const AUTO_BATCH = { cpu: 1, gpu: 8 } as const;

/** The largest batch `setting` asks for on a provider, which only the inference process knows for `auto` (it may fall back to the CPU). */
export function batchLimit(setting: BatchSetting, gpu: boolean): number {
  return setting === 'auto' ? AUTO_BATCH[gpu ? 'gpu' : 'cpu'] : setting;
}
