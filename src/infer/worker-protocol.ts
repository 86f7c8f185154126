// Messages between the main thread and the inference worker. Frame bytes travel as
// transferred ArrayBuffers: ownership moves, nothing is copied. (SharedArrayBuffer slots
// would also avoid copies, but onnxruntime-node rejects tensors backed by them with
// "Invalid argument", measured with 1.30.)
import type { EpChoice } from './session.js';

export interface WorkerInit {
  model: Uint8Array;
  ep: EpChoice;
  threads?: number;
  width: number;
  height: number;
  /** a temporal model's past-frames state shape; null for a single-frame model */
  past: number[] | null;
}

export type ToWorker =
  /** lane: whose state (smoothing, past frames) the frame continues (streams sharing one session each have their own) */
  { type: 'run'; id: number; frame: ArrayBuffer; smooth: number; reset: boolean; lane: number } | { type: 'drop-lane'; lane: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; ep: string; skipped: string[] }
  | { type: 'open-failed'; message: string; epUnavailable: boolean }
  | { type: 'done'; id: number; frame: ArrayBuffer; out: ArrayBuffer; ms: number }
  | { type: 'run-failed'; id: number; frame: ArrayBuffer; message: string };
