// The small interfaces every source and sink implements (ARCHITECTURE.md).

export interface Frame {
  /** rgb24, HWC */
  data: Buffer;
  width: number;
  height: number;
  /** presentation time in seconds */
  pts: number;
  /** decode order, from 0 */
  seq: number;
  /** wall-clock ms when the frame was decoded */
  capturedAt: number;
  /** the first frame after a (re)connection or a cut: state carried across frames restarts */
  reset?: boolean;
  /** an output repeating the last frame while the source is down */
  stale?: boolean;
}

export interface Source {
  start(): AsyncIterable<Frame>;
  stop(): Promise<void>;
}

export interface Sink {
  write(frame: Frame): void | Promise<void>;
  close(): Promise<void>;
}
