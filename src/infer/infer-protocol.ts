// The messages between a Derainer and its inference process, as wire.ts headers. Binary parts
// (the model, frames) travel as the message body, never inside the JSON.
import type { EngineInit } from './infer-engine.js';

/** fd of the inference process's message pipe (0-2 stay the usual stdio, so a stray print cannot corrupt a frame) */
export const PIPE_FD = 3;
/** fd of the frame slots' shared memory (frame-slots.ts), when there are slots */
export const SLOTS_FD = 4;

/** One frame to derain: its input slot (null: it is in the body), and whose state (smoothing, past frames) it continues. */
export interface RunItem {
  id: number;
  slot: number | null;
  smooth: number;
  reset: boolean;
  lane: number;
}

export type ToInfer =
  /** body: the fused model. slots: the frame slots on SLOTS_FD, or null (frames come in bodies) */
  | ({ type: 'init'; slots: { count: number; frameBytes: number } | null } & EngineInit)
  /** the frame (uint8 HWC) is in input slot `slot`, or the body when null. lane: whose state (smoothing, past frames) the frame continues */
  | ({ type: 'run' } & RunItem)
  /** frames of several lanes in one run (a batched graph), each lane at most once; the body: the frames of the items without a slot, one after another */
  | { type: 'batch'; items: RunItem[] }
  | { type: 'drop-lane'; lane: number }
  /** finish the frames handed over, release the session, exit */
  | { type: 'close' };

export type FromInfer =
  /** maxBatch: the largest batch one run takes (1 without a batched graph); batchNote: why it is 1 although batches were asked for */
  | { type: 'ready'; ep: string; skipped: string[]; maxBatch: number; batchNote: string | null }
  | { type: 'open-failed'; message: string; epUnavailable: boolean }
  /**
   * The derained frame is in output slot `slot` (the run's), or the body when null. batch: the
   * frames of the run it was in (ms is that run's); refused: the batch could not run as one, the frames ran one by one, and from now on do (why).
   */
  | { type: 'done'; id: number; slot: number | null; ms: number; batch?: number; refused?: string }
  | { type: 'run-failed'; id: number; message: string };
