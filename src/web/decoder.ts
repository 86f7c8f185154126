// JPEG → ImageBitmap off the main thread (createImageBitmap), newest frame first: while one
// frame decodes, a newer arrival replaces any frame still waiting, so a slow page shows fewer
// frames, never older ones.
import type { FrameHeader } from '../protocol/frame-header.js';

export class LatestDecoder {
  private busy = false;
  private next: { header: FrameHeader; jpeg: Blob } | null = null;

  constructor(private readonly done: (header: FrameHeader, bitmap: ImageBitmap, jpeg: Blob) => void) {}

  push(header: FrameHeader, jpeg: Blob): void {
    if (this.busy) this.next = { header, jpeg };
    else void this.run(header, jpeg);
  }

  private async run(header: FrameHeader, jpeg: Blob): Promise<void> {
    this.busy = true;
    try {
      this.done(header, await createImageBitmap(jpeg), jpeg);
    } catch {
      // a damaged JPEG: skip it, the next one is a moment away
    } finally {
      this.busy = false;
      const n = this.next;
      this.next = null;
      if (n) void this.run(n.header, n.jpeg);
    }
  }
}
