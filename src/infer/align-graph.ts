// A temporal model's past aligned to the present inside the fused graph: the camera's global
// translation between the previous frame and this one, found by integral projections (the
// rows' and the columns' mean brightness, compared at every shift of up to ALIGN_RADIUS pixels),
// then the past frames shifted by it (edge pixels repeated). A pan or shake then reaches the
// model as the still scene it uses the past for, instead of a ghost it has to ignore; the
// smoothing state is moved by the same shift (fused-graph.ts).
// Measured with eval-video (README, "Video"), lite2-t5 in heavy rain: a panning clip +0.76 dB
// (+0.46 from the past alone), a shaking one +0.32 (+0.19), the fixed camera −0.03 (−0.01).
// Tried and dropped: the whole grey image matched instead of its profiles (rain dominates the
// difference; the pan's gain fell to +0.2 and vanished where the pan turns), the profiles of a
// horizontally eroded image (fewer streaks, less scene: worse on both), a truncated difference.
import { DataType, type GraphBuilder } from './graph-builder.js';

/** The largest shift looked for, in inference pixels, per axis. */
export const ALIGN_RADIUS = 6;
/**
 * Each pixel of sideways shift costs this share more, so a still camera's noise and passing cars
 * stay at no shift. 0.2 lost the pan's gain (a 2 px pan in heavy rain only lowers the profiles'
 * cost by a few tens of percent).
 */
export const ALIGN_BIAS = 0.05;
/**
 * The same for vertical shifts, higher: falling rain and cars driving down the road move the row
 * profiles down a pixel on a still camera (at 0.05, 13 of 200 frames of the fixed heavy-rain clip
 * moved, −0.09 dB; at 0.15, 2 of 200, −0.01 dB, and the shake's gain kept).
 */
export const ALIGN_BIAS_ROWS = 0.15;

/** The candidate shifts, smallest first, so that ArgMin's first minimum (a tie: a flat frame) is the smallest shift. */
const SHIFTS = [0, ...Array.from({ length: ALIGN_RADIUS }, (_, i) => [-(i + 1), i + 1]).flat()];

/** The shift along one axis (of the profiles `cur` and `prev`, [n, 1, L, 1] or [n, 1, 1, L]) that matches prev to cur best, as int64 [n, 1]. */
function bestShift(b: GraphBuilder, cur: string, prev: string, axis: 2 | 3, length: number): string {
  const r = ALIGN_RADIUS;
  const span = length - 2 * r;
  const slice = (x: string, start: number) => b.op('Slice', [x, b.i64([start]), b.i64([start + span]), b.i64([axis])]);
  const center = slice(cur, r);
  // shift s: the past moved by s pixels (content at p came from p − s), so prev's window starts at r − s
  const shifted = b.op(
    'Concat',
    SHIFTS.map((s) => slice(prev, r - s)),
    { axis: 1 },
  );
  const cost = b.op('GlobalAveragePool', [b.op('Abs', [b.op('Sub', [shifted, center])])]);
  const bias = Float32Array.from(SHIFTS, (s) => 1 + (axis === 2 ? ALIGN_BIAS_ROWS : ALIGN_BIAS) * Math.abs(s));
  const index = b.op('ArgMin', [b.op('Mul', [cost, b.f32(bias, [1, SHIFTS.length, 1, 1])])], { axis: 1, keepdims: 0 });
  return b.op('Gather', [b.i64(SHIFTS), b.op('Reshape', [index, b.i64([-1, 1])])]);
}

/** Brightness profiles of frames [n, 3, h, w]: their rows' means [n, 1, h, 1] and their columns' [n, 1, 1, w]. */
function profiles(b: GraphBuilder, x: string, h: number, w: number): [string, string] {
  // Each channel's row means as a GlobalAveragePool over rows read as channels, its column means as
  // one row of 1/h times the frame (MatMul): one pass over the frame each, and the grey mean on the
  // profiles. A grey frame and two frame-wide AveragePools took four times as long.
  const gray = (p: string) => b.op('Conv', [p, b.f32([1 / 3, 1 / 3, 1 / 3], [1, 3, 1, 1])]);
  const rows = b.op('Reshape', [b.op('GlobalAveragePool', [b.op('Reshape', [x, b.i64([0, 3 * h, w, 1])])]), b.i64([-1, 3, h, 1])]);
  const cols = b.op('Reshape', [b.op('MatMul', [b.f32(new Float32Array(h).fill(1 / h), [1, h]), b.op('Reshape', [x, b.i64([-1, h, w])])]), b.i64([-1, 3, 1, w])]);
  return [gray(rows), gray(cols)];
}

/** The camera's shift from the previous frame to this one, in inference pixels: rows and columns, each int64 [n, 1]. */
export interface Shift {
  rows: string;
  cols: string;
}

/** The shift that moves `previous` ([n, 3, h, w]) onto `current`, from their brightness profiles. */
export function estimateShift(b: GraphBuilder, current: string, previous: string, h: number, w: number): Shift {
  const [curRows, curCols] = profiles(b, current, h, w);
  const [prevRows, prevCols] = profiles(b, previous, h, w);
  return { rows: bestShift(b, curRows, prevRows, 2, h), cols: bestShift(b, curCols, prevCols, 3, w) };
}

/** A shift in `x`'s pixels: the inference pixels' shift scaled and rounded. */
function scaled(b: GraphBuilder, shift: string, scale: number): string {
  if (scale === 1) return shift;
  const f = b.op('Cast', [shift], { to: DataType.FLOAT });
  return b.op('Cast', [b.op('Round', [b.op('Mul', [f, b.f32([scale], [])])])], { to: DataType.INT64 });
}

/**
 * One frame moved along both axes by one Pad and one Slice: two copies of it, where an axis at a
 * time took four (the past's shift was a quarter of the fused graph's own time).
 */
function shiftFrame(b: GraphBuilder, x: string, shift: Shift, h: number, w: number, scale: [number, number]): string {
  const rr = Math.ceil(ALIGN_RADIUS * scale[0]);
  const rc = Math.ceil(ALIGN_RADIUS * scale[1]);
  const padded = b.op('Pad', [x, b.i64([0, 0, rr, rc, 0, 0, rr, rc])], { mode: 'edge' });
  const shifts = b.op('Concat', [scaled(b, shift.rows, scale[0]), scaled(b, shift.cols, scale[1])], { axis: 1 });
  const start = b.op('Reshape', [b.op('Sub', [b.i64([rr, rc], [1, 2]), shifts]), b.i64([2])]);
  return b.op('Slice', [padded, start, b.op('Add', [start, b.i64([h, w])]), b.i64([2, 3])]);
}

/** `x` [n, c, h, w] moved by `shift` [n, 1] pixels along `axis` (x'[p] = x[p − shift], edge pixels repeated): each frame its own shift. */
function shiftAlong(b: GraphBuilder, x: string, shift: string, axis: 2 | 3, length: number, scale: number): string {
  const r = Math.ceil(ALIGN_RADIUS * scale);
  shift = scaled(b, shift, scale);
  const pads = axis === 2 ? [0, 0, r, 0, 0, 0, r, 0] : [0, 0, 0, r, 0, 0, 0, r];
  const padded = b.op('Pad', [x, b.i64(pads)], { mode: 'edge' });
  const start = b.op('Sub', [b.i64([r]), shift]);
  // a batch: Slice takes one start for the whole tensor, so the rows (columns) each frame takes are gathered
  const dims = axis === 2 ? [1, 1, length, 1] : [1, 1, 1, length];
  const positions = b.op('Add', [
    b.op('Reshape', [start, b.i64([-1, 1, 1, 1])]),
    b.i64(
      Array.from({ length }, (_, i) => i),
      dims,
    ),
  ]);
  const outShape = b.op(
    'Concat',
    [b.op('Slice', [b.op('Shape', [padded]), b.i64([0]), b.i64([axis]), b.i64([0])]), b.i64([length]), b.op('Slice', [b.op('Shape', [padded]), b.i64([axis + 1]), b.i64([4]), b.i64([0])])],
    { axis: 0 },
  );
  return b.op('GatherElements', [padded, b.op('Expand', [positions, outShape])], { axis });
}

/**
 * `x` ([n, c, h, w], in the previous frame's coordinates) moved by `shift` into the current
 * frame's. `scale` is x's pixels per inference pixel along rows and columns (the smoothing state
 * is at the camera's size): the shift is scaled and rounded.
 */
export function applyShift(b: GraphBuilder, x: string, shift: Shift, h: number, w: number, batched: boolean, scale: [number, number] = [1, 1]): string {
  if (!batched) return shiftFrame(b, x, shift, h, w, scale);
  const rows = shiftAlong(b, x, shift.rows, 2, h, scale[0]);
  return shiftAlong(b, rows, shift.cols, 3, w, scale[1]);
}
