// Where a frame lands in a detector's input: scaled to fit with its aspect kept, then padded.
// The same numbers place the frame in the graph and take the boxes back to frame pixels.
import type { DetectorCard } from './card.js';

export interface Letterbox {
  /** the frame's size once scaled into the input */
  width: number;
  height: number;
  /** padding before it, in input pixels */
  left: number;
  top: number;
  /** padding after it */
  right: number;
  bottom: number;
  /** input pixels per frame pixel, per axis (the sizes are rounded, so they differ a little) */
  sx: number;
  sy: number;
}

export function letterbox(frame: { width: number; height: number }, input: DetectorCard['input']): Letterbox {
  const r = Math.min(input.width / frame.width, input.height / frame.height);
  const width = Math.min(input.width, Math.max(1, Math.round(frame.width * r)));
  const height = Math.min(input.height, Math.max(1, Math.round(frame.height * r)));
  const padX = input.width - width;
  const padY = input.height - height;
  const left = input.letterbox.place === 'center' ? Math.floor(padX / 2) : 0;
  const top = input.letterbox.place === 'center' ? Math.floor(padY / 2) : 0;
  return { width, height, left, top, right: padX - left, bottom: padY - top, sx: width / frame.width, sy: height / frame.height };
}

/** Grid cells (x, y) and their stride, in the order a YOLOX-style head lists its anchors: each stride's rows, top to bottom. */
export function gridCells(input: { width: number; height: number }, strides: number[]): { cells: Float32Array; strides: Float32Array; count: number } {
  const sizes = strides.map((s) => [Math.floor(input.width / s), Math.floor(input.height / s)]);
  const count = sizes.reduce((n, [w, h]) => n + w * h, 0);
  const cells = new Float32Array(2 * count);
  const perCell = new Float32Array(count);
  let i = 0;
  strides.forEach((s, k) => {
    const [w, h] = sizes[k];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++, i++) {
        cells[2 * i] = x;
        cells[2 * i + 1] = y;
        perCell[i] = s;
      }
  });
  return { cells, strides: perCell, count };
}

/** How many anchors and values per anchor the card's head gives (anchors: null when the card does not fix them). */
export function headShape(card: DetectorCard): { anchors: number | null; values: number } {
  const o = card.output;
  const values = 4 + (o.objectness ? 1 : 0) + card.classes.length;
  return { anchors: o.decode === 'grid' ? gridCells(card.input, o.strides!).count : null, values };
}
