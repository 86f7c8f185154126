// How many of a camera's frames the decoder converts and hands over. A camera that shares a
// machine with others gets a few frames a second derained out of the 25 it sends; converting
// each to rgb24 and copying it into the service only for the ring to drop it cost 8 cameras
// about 0.2 of a core (README, cameras per machine). The decoder can skip frames after decoding
// them (ffmpeg's framestep, switched on and off while it runs): this decides by how much, from
// the rate the consumer takes frames at, with headroom so that the frame it takes stays fresh.

/** Each level halves the frames converted: 1, 1/2, 1/4, 1/8, 1/16 of the camera's. */
export const MAX_LEVEL = 4;
/**
 * Skip more while the consumer takes under 1/8 of what is converted, less once it takes over
 * 1/3: apart by more than one level's factor of 2, so a consumer's ups and downs do not flap it.
 */
const RAISE_BELOW = 1 / 8;
const LOWER_ABOVE = 1 / 3;

export class Decimation {
  private current = 0;
  private taken = 0;
  private since: number;

  constructor(
    private readonly cameraFps: number,
    now = Date.now(),
  ) {
    this.since = now;
  }

  /** 0 .. MAX_LEVEL */
  get level(): number {
    return this.current;
  }

  /** 2^level: one frame converted for every `step` the camera sends. */
  get step(): number {
    return 2 ** this.current;
  }

  /** A new window from now (a new connection: the time without frames says nothing of the consumer). */
  restart(now = Date.now()): void {
    this.taken = 0;
    this.since = now;
  }

  /** The consumer took a frame. */
  took(): void {
    this.taken++;
  }

  /**
   * The level for the window since the last call (at least `minWindowMs` long, else null: no
   * change; long enough to hold a few frames of a consumer taking one a second), one level at a
   * time so that a change is seen before the next one.
   */
  decide(now = Date.now(), minWindowMs = 4000): number | null {
    const ms = now - this.since;
    if (ms < minWindowMs) return null;
    const rate = (this.taken * 1000) / ms;
    this.taken = 0;
    this.since = now;
    const converted = this.cameraFps / this.step;
    if (this.current < MAX_LEVEL && rate < converted * RAISE_BELOW) this.current++;
    else if (this.current > 0 && rate > converted * LOWER_ABOVE) this.current--;
    else return null;
    return this.current;
  }
}
