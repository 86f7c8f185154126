// The pipeline's sink in `derain eval-detect`: for each derained frame, the detector runs on the
// clean frame (its detections are the pseudo ground truth), the rainy frame the pipeline read
// and the derained one, and the rainy and derained detections are matched against the clean.
// File inputs come out in order, every frame once, so the clean and rainy frames are read beside
// the output by their own decoders, in step, rather than kept in memory.
import { UserError } from '../../errors.js';
import type { Frame } from '../../frame.js';
import type { Box, Detection, Detector } from '../../detect/index.js';
import { SetTally } from '../../detect/index.js';
import type { AbortableSink } from '../../pipeline/index.js';
import type { Clip } from '../video/clip.js';
import type { FrameReader } from '../video/frame-reader.js';

export type SetName = 'clean' | 'rainy' | 'derained';

export interface FrameDetections {
  /** the frame's number in the clip */
  n: number;
  clean: number;
  rainy: number;
  derained: number;
  rainyMatched: number;
  derainedMatched: number;
}

/** One frame of the three sets, kept for the annotated PNG. */
export interface KeptFrame {
  n: number;
  images: Record<SetName, Buffer>;
  detections: Record<SetName, Detection[]>;
}

export class DetectSink implements AbortableSink {
  readonly rainy: SetTally;
  readonly derained: SetTally;
  cleanDetections = 0;
  detectMs = 0;
  readonly perFrame: FrameDetections[] = [];
  kept: KeptFrame | null = null;
  private seen = 0;

  constructor(
    private readonly clip: Clip,
    private readonly detector: Detector,
    private readonly readers: Record<'clean' | 'rainy', FrameReader>,
    iou: number,
    private readonly keepIndex: number,
    private readonly onFrame?: (done: number, total: number) => void,
  ) {
    this.rainy = new SetTally(iou);
    this.derained = new SetTally(iou);
  }

  async write(frame: Frame): Promise<void> {
    const keep = this.seen === this.keepIndex;
    const images = { derained: Buffer.from(frame.data) } as Record<SetName, Buffer>;
    for (const set of ['clean', 'rainy'] as const) {
      const f = await this.readers[set].next();
      if (!f) throw new UserError(`the ${set} frames ended at ${this.seen} of ${this.clip.frames.length}`, 1);
      // (a reader's frame is its slot, valid until its next frame: copied only when kept)
      images[set] = keep ? Buffer.from(f.data) : f.data;
    }
    const t = performance.now();
    const found = {} as Record<SetName, Detection[]>;
    for (const set of ['clean', 'rainy', 'derained'] as const) found[set] = await this.detector.detect(images[set]);
    this.detectMs += performance.now() - t;
    const truth: Box[] = found.clean.map((d) => d.box);
    this.cleanDetections += truth.length;
    this.perFrame.push({
      n: this.clip.frames[this.seen].n,
      clean: truth.length,
      rainy: found.rainy.length,
      derained: found.derained.length,
      rainyMatched: this.rainy.add(truth, found.rainy),
      derainedMatched: this.derained.add(truth, found.derained),
    });
    if (keep) this.kept = { n: this.clip.frames[this.seen].n, images, detections: found };
    this.seen++;
    this.onFrame?.(this.seen, this.clip.frames.length);
  }

  async close(): Promise<void> {}
}
