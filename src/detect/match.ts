// Detections of a set (rainy or derained frames) against those of the clean frame, the pseudo
// ground truth: greedy matching, highest score first, each clean box matched at most once.
import { iou, type Box, type Detection } from './boxes.js';

/** How many of `found` match a box of `truth` with IoU of at least `minIou`, and which truth boxes they took. */
export function matchFrame(truth: Box[], found: Detection[], minIou: number): { matched: number; taken: boolean[] } {
  const taken = truth.map(() => false);
  let matched = 0;
  for (const d of [...found].sort((a, b) => b.score - a.score)) {
    let best = -1;
    let bestIou = minIou;
    truth.forEach((t, i) => {
      if (taken[i]) return;
      const v = iou(t, d.box);
      if (v >= bestIou) {
        bestIou = v;
        best = i;
      }
    });
    if (best >= 0) {
      taken[best] = true;
      matched++;
    }
  }
  return { matched, taken };
}

export interface SetScores {
  frames: number;
  detections: number;
  detectionsPerFrame: number;
  /** detections matching a clean-frame detection */
  matched: number;
  /** matched / clean-frame detections: the share of what the detector finds on clean frames that it still finds */
  recall: number | null;
  /** matched / detections */
  precision: number | null;
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;

/** Counts a set's frames against the clean frames' detections. */
export class SetTally {
  private frames = 0;
  private truth = 0;
  private found = 0;
  private matched = 0;

  constructor(private readonly minIou: number) {}

  add(truth: Box[], found: Detection[]): number {
    const { matched } = matchFrame(truth, found, this.minIou);
    this.frames++;
    this.truth += truth.length;
    this.found += found.length;
    this.matched += matched;
    return matched;
  }

  result(): SetScores {
    return {
      frames: this.frames,
      detections: this.found,
      detectionsPerFrame: round(this.found / Math.max(1, this.frames)),
      matched: this.matched,
      recall: this.truth ? round(this.matched / this.truth) : null,
      precision: this.found ? round(this.matched / this.found) : null,
    };
  }
}
