// Box outlines drawn into an rgb24 frame, for the annotated PNG: a few pixels per box, off the hot path.
import type { Box } from './boxes.js';

export type Rgb = [number, number, number];

export function drawBoxes(rgb: Buffer, width: number, height: number, boxes: Box[], color: Rgb, thickness = 1): void {
  const put = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const o = (y * width + x) * 3;
    rgb[o] = color[0];
    rgb[o + 1] = color[1];
    rgb[o + 2] = color[2];
  };
  for (const b of boxes) {
    const [x1, y1, x2, y2] = [Math.round(b[0]), Math.round(b[1]), Math.round(b[2]) - 1, Math.round(b[3]) - 1];
    for (let t = 0; t < thickness; t++) {
      for (let x = x1; x <= x2; x++) {
        put(x, y1 + t);
        put(x, y2 - t);
      }
      for (let y = y1; y <= y2; y++) {
        put(x1 + t, y);
        put(x2 - t, y);
      }
    }
  }
}
