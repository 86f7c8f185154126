// Which pixels of a frame are static and which move. From CDnet motion masks where there are
// some (groundtruth/gtNNNNNN.png: 255 moving, 50 shadow, 0 static, 85/170 unknown/outside the
// region of interest): moving = 255 dilated a little, static = 0 outside that, the rest left out.
// Otherwise from the clean frames' own change: |ΔY| to the previous or the next frame above a
// threshold, dilated, is moving; everything else is static.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { probeInput, type InputInfo } from '../../ingest/probe.js';
import type { Luma } from '../metrics.js';
import type { Clip } from './clip.js';

export interface PixelClasses {
  /** 1 where the pixel counts as static */
  static: Uint8Array;
  /** 1 where it counts as moving */
  moving: Uint8Array;
}

/** how far (pixels) a moving region grows: edges and the blur of motion count as moving */
export const MOVING_DILATE = 2;
/** a clean frame's |ΔY| above this (levels of 255) is motion, not sensor or compression noise */
export const CHANGE_THRESHOLD = 10;

const CDNET = { moving: 255, static: 0 };

/** Grows the 1s of a mask by `r` pixels in every direction (a square max filter, rows then columns). */
export function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    let last = -Infinity; // the nearest set pixel to the left
    for (let x = 0; x < width; x++) {
      if (mask[o + x]) last = x;
      if (x - last <= r) rows[o + x] = 1;
    }
    let next = Infinity; // and to the right
    for (let x = width - 1; x >= 0; x--) {
      if (mask[o + x]) next = x;
      if (next - x <= r) rows[o + x] = 1;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    for (let x = 0; x < width; x++) {
      if (!rows[o + x]) continue;
      for (let yy = Math.max(0, y - r); yy <= Math.min(height - 1, y + r); yy++) out[yy * width + x] = 1;
    }
  }
  return out;
}

/** Classes from a CDnet ground-truth frame (rgb24 of the gray mask). */
export function cdnetClasses(gt: Buffer, width: number, height: number): PixelClasses {
  const n = width * height;
  const moving = new Uint8Array(n);
  for (let i = 0; i < n; i++) moving[i] = gt[i * 3] === CDNET.moving ? 1 : 0;
  const grown = dilate(moving, width, height, MOVING_DILATE);
  const still = new Uint8Array(n);
  for (let i = 0; i < n; i++) still[i] = gt[i * 3] === CDNET.static && !grown[i] ? 1 : 0;
  return { static: still, moving: grown };
}

/** Classes from the clean frames' own change around frame `cur`. */
export function changeClasses(prev: Luma | null, cur: Luma, next: Luma | null): PixelClasses {
  const n = cur.y.length;
  const changed = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = cur.y[i];
    changed[i] = (prev && Math.abs(v - prev.y[i]) > CHANGE_THRESHOLD) || (next && Math.abs(next.y[i] - v) > CHANGE_THRESHOLD) ? 1 : 0;
  }
  const moving = dilate(changed, cur.width, cur.height, MOVING_DILATE);
  const still = new Uint8Array(n);
  for (let i = 0; i < n; i++) still[i] = moving[i] ? 0 : 1;
  return { static: still, moving };
}

/** The mask file of a chosen frame: in001200.jpg ↔ gt001200.png; by frame number otherwise. */
function maskName(frame: { n: number; name?: string }): string {
  const m = frame.name ? /^in(\d+)\./i.exec(frame.name) : null;
  return `gt${m ? m[1] : String(frame.n).padStart(6, '0')}.png`;
}

export interface MaskSet {
  dir: string;
  /** decodes the chosen frames' masks, in order */
  info: InputInfo;
  /** given with --masks, or found beside a CDnet input/ folder */
  auto: boolean;
}

/**
 * The motion masks of the chosen frames: `--masks DIR`, else CDnet's groundtruth/ beside a clip
 * folder named input/ when it holds a mask for every chosen frame; undefined: none (the clean
 * frames' change decides).
 */
export async function findMasks(clip: Clip, masksDir?: string): Promise<MaskSet | undefined> {
  let dir = masksDir;
  let auto = false;
  if (dir === undefined) {
    if (clip.kind !== 'images' || !clip.folder || path.basename(path.resolve(clip.folder)) !== 'input') return undefined;
    dir = path.join(path.dirname(path.resolve(clip.folder)), 'groundtruth');
    if (!existsSync(dir) || !clip.frames.every((f) => existsSync(path.join(dir!, maskName(f))))) return undefined;
    auto = true;
  }
  if (!existsSync(dir)) throw new UserError(`--masks folder not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UserError(`--masks ${dir} is not a folder`);
  const files = clip.frames.map((f) => path.join(dir!, maskName(f)));
  const missing = files.filter((f) => !existsSync(f)).map((f) => path.basename(f));
  if (missing.length)
    throw new UserError(
      `--masks ${dir} has no mask for ${missing.length} of the ${files.length} frames (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}; frame inNNNNNN.jpg or number N takes gtNNNNNN.png)`,
    );
  const first = await probeInput(files[0]);
  if (first.width !== clip.width || first.height !== clip.height) throw new UserError(`--masks ${dir}: the masks are ${first.width}x${first.height} but the frames ${clip.width}x${clip.height}`);
  const info: InputInfo = { kind: 'images', display: dir, location: dir, files, width: clip.width, height: clip.height, fps: clip.clean.fps, frameCount: files.length, frameCountExact: true };
  return { dir, info, auto };
}
