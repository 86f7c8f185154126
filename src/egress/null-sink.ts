import type { Frame, Sink } from '../frame.js';

/** Output "-": frames are derained and counted, and go nowhere. */
export class NullSink implements Sink {
  framesWritten = 0;
  write(_frame: Frame): void {
    this.framesWritten++;
  }
  async close(): Promise<void> {}
}
