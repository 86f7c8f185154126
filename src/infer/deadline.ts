// How long a frame may take before its inference process counts as hung. From the measured
// inference times: a frame 20 times slower than the slowest usual one (p95) is no longer a slow
// frame but a process that stopped (SIGSTOP, a deadlock, a GPU that stopped answering), and the
// floor keeps a fast model's deadline clear of the pauses a loaded machine has (a GC, a swap, a
// busy core). A process's first frame has a long deadline of its own and is not measured: it
// warms the session up (CUDA kernels, TensorRT engines, first allocations), which on a GPU can
// take far longer than a frame, and it would set the next frames' deadline far too long.
import { percentile } from '../util/percentile.js';

export const DEADLINE_FLOOR_MS = 10_000;
export const DEADLINE_P95_FACTOR = 20;
export const FIRST_FRAME_DEADLINE_MS = 120_000;
/** the inference times the deadline looks at (the newest) */
export const DEADLINE_WINDOW = 100;

/** recentMs: the newest inference times after each process's first frame */
export function frameDeadlineMs(recentMs: readonly number[], firstFrame = false): number {
  if (firstFrame || recentMs.length === 0) return FIRST_FRAME_DEADLINE_MS;
  return Math.max(DEADLINE_FLOOR_MS, DEADLINE_P95_FACTOR * percentile([...recentMs], 95));
}
