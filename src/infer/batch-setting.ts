// How many frames of streams sharing a session one inference run takes: `batch: auto | n` in the
// serve config. Measured (README, `derain serve`, "Batches"): on the CPU a batch costs as much per
// frame as the frames one by one, or a little more, so `auto` keeps CPU batches small; on a GPU
// a batch is what keeps the device busy, so `auto` takes up to 8.
export type BatchSetting = 'auto' | number;

export const AUTO_BATCH = { cpu: 2, gpu: 8 } as const;

/** The largest batch `setting` asks for on a provider, which only the inference process knows for `auto` (it may fall back to the CPU). */
export function batchLimit(setting: BatchSetting, gpu: boolean): number {
  return setting === 'auto' ? AUTO_BATCH[gpu ? 'gpu' : 'cpu'] : setting;
}
