// The messages between a Derainer and its inference process, as wire.ts headers. Binary parts
// (the model, frames) travel as the message body, never inside the JSON.
import type { EngineInit } from './infer-engine.js';

/** fd of the inference process's message pipe (0-2 stay the usual stdio, so a stray print cannot corrupt a frame) */
export const PIPE_FD = 3;
/** fd of the frame slots' shared memory (frame-slots.ts), when there are slots */
export const SLOTS_FD = 4;

export type ToInfer =
  /** body: the fused model. slots: the frame slots on SLOTS_FD, or null (frames come in bodies) */
  | ({ type: 'init'; slots: { count: number; frameBytes: number } | null } & EngineInit)
  /** the frame (uint8 HWC) is in input slot `slot`, or the body when null. lane: whose state (smoothing, past frames) the frame continues */
  | { type: 'run'; id: number; slot: number | null; smooth: number; reset: boolean; lane: number }
  | { type: 'drop-lane'; lane: number }
  /** finish the frames handed over, release the session, exit */
  | { type: 'close' };

export type FromInfer =
  | { type: 'ready'; ep: string; skipped: string[] }
  | { type: 'open-failed'; message: string; epUnavailable: boolean }
  /** the derained frame is in output slot `slot` (the run's), or the body when null */
  | { type: 'done'; id: number; slot: number | null; ms: number }
  | { type: 'run-failed'; id: number; message: string };
