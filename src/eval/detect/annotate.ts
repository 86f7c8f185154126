// The annotated PNG of `derain eval-detect`: one frame as clean | rainy | derained, each with the
// clean frame's boxes (green, the pseudo ground truth) and, on the rainy and derained panels, the
// set's own boxes (magenta) drawn over them.
import { drawBoxes, type Rgb } from '../../detect/index.js';
import { writeMontage } from '../video/montage.js';
import type { KeptFrame } from './detect-sink.js';

export const CLEAN_COLOR: Rgb = [0, 255, 0];
export const SET_COLOR: Rgb = [255, 0, 255];

export async function writeAnnotated(out: string, kept: KeptFrame, width: number, height: number, tmpDir: string): Promise<void> {
  const truth = kept.detections.clean.map((d) => d.box);
  const panels = (['clean', 'rainy', 'derained'] as const).map((set) => {
    const img = Buffer.from(kept.images[set]);
    drawBoxes(img, width, height, truth, CLEAN_COLOR);
    if (set !== 'clean')
      drawBoxes(
        img,
        width,
        height,
        kept.detections[set].map((d) => d.box),
        SET_COLOR,
      );
    return img;
  });
  await writeMontage(out, panels, width, height, tmpDir);
}
