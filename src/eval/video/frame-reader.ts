// Frames of an input one at a time, on demand, through the same decoder as `derain run`
// (FfmpegSource): the clean frames beside the pipeline's output, the motion masks, the frames
// fed to the rain generator. The same decode, so the same pixels, every time.
import type { Frame } from '../../frame.js';
import { FfmpegSource } from '../../ingest/ffmpeg-source.js';
import type { InputInfo } from '../../ingest/probe.js';

export class FrameReader {
  private readonly source: FfmpegSource;
  private readonly it: AsyncIterator<Frame>;
  private skipped = false;
  private given = 0;

  /** `skip` frames are passed over, then at most `limit` are given. */
  constructor(
    info: InputInfo,
    private readonly skip = 0,
    private readonly limit = Infinity,
  ) {
    this.source = new FfmpegSource(info);
    this.it = this.source.start()[Symbol.asyncIterator]();
  }

  /**
   * The next frame, or null at the end. Its data is the decoder's slot: valid until the next
   * call, so read it (or copy it) first.
   */
  async next(): Promise<Frame | null> {
    if (!this.skipped) {
      this.skipped = true;
      for (let i = 0; i < this.skip; i++) if ((await this.it.next()).done) return null;
    }
    if (this.given >= this.limit) return null;
    const r = await this.it.next();
    if (r.done) return null;
    this.given++;
    return r.value;
  }

  stop(): Promise<void> {
    return this.source.stop();
  }
}
