// Scores a clip frame by frame as the pipeline's output comes: the rainy input and the output
// against the clean frame, with the frame's static/moving pixels. Pixel classes made from the
// clean frames' change need the next clean frame too, so a frame is scored when the next one
// arrives (and the last at finish()).
import { lumaOf, type Luma } from '../metrics.js';
import { SsimMapReference } from '../ssim-map.js';
import { cdnetClasses, changeClasses, type PixelClasses } from './masks.js';
import { VideoScores, type Scores } from './video-scores.js';

export interface FrameTriple {
  clean: Luma;
  input: Luma;
  output: Luma;
  /** the CDnet mask of the frame (rgb24), when there are masks */
  mask?: Buffer;
}

export interface ClipScores {
  input: Scores;
  output: Scores;
  frames: number;
  staticFraction: number;
  movingFraction: number;
  /** the clean frames' own mean |ΔY| on static pixels, which flickerStatic is counted above */
  cleanFlickerStatic: number | null;
}

export class ClipScorer {
  private readonly input = new VideoScores();
  private readonly output = new VideoScores();
  private prev: FrameTriple | null = null;
  private pending: FrameTriple | null = null;
  private pixels = 0;
  private statics = 0;
  private movings = 0;

  /** Takes rgb24 frames of one time step (their data is read now, so decoder slots may be reused). */
  push(frames: { clean: Buffer; input: Luma | Buffer; output: Buffer; mask?: Buffer }, width: number, height: number): void {
    const luma = (b: Luma | Buffer) => (Buffer.isBuffer(b) ? lumaOf(b, width, height) : b);
    const next: FrameTriple = { clean: luma(frames.clean), input: luma(frames.input), output: luma(frames.output), mask: frames.mask && Buffer.from(frames.mask) };
    if (this.pending) this.score(this.pending, next);
    this.pending = next;
  }

  finish(): ClipScores {
    if (this.pending) this.score(this.pending, null);
    this.pending = null;
    const n = Math.max(1, this.pixels);
    return {
      input: this.input.result(),
      output: this.output.result(),
      frames: this.output.frames,
      staticFraction: Math.round((this.statics / n) * 1e6) / 1e6,
      movingFraction: Math.round((this.movings / n) * 1e6) / 1e6,
      cleanFlickerStatic: this.output.cleanFlicker,
    };
  }

  private score(f: FrameTriple, next: FrameTriple | null): void {
    const { width, height } = f.clean;
    const classes: PixelClasses = f.mask ? cdnetClasses(f.mask, width, height) : changeClasses(this.prev?.clean ?? null, f.clean, next?.clean ?? null);
    const ref = new SsimMapReference(f.clean);
    this.input.add({ clean: f.clean, classes, img: f.input, ssimMap: ref.map(f.input) });
    this.output.add({ clean: f.clean, classes, img: f.output, ssimMap: ref.map(f.output) });
    this.pixels += width * height;
    for (let i = 0; i < classes.static.length; i++) {
      this.statics += classes.static[i];
      this.movings += classes.moving[i];
    }
    // (the mask is done with; the lumas stay for the next frame's classes and flicker)
    this.prev = { ...f, mask: undefined };
  }
}
