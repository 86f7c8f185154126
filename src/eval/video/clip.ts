// What a video benchmark runs on, checked before anything is decoded: a clean clip (a folder of
// frames or a video file) and the frames chosen from it (--from/--to, 1-based, inclusive), or a
// folder pair DIR/rain/ + DIR/clean/ of frames with matching names.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { probeInput, type InputInfo } from '../../ingest/probe.js';
import { SSIM_WINDOW } from '../metrics.js';

export interface ClipRequest {
  clip?: string;
  pairs?: string;
  from?: number;
  to?: number;
}

export interface ChosenFrame {
  /** the frame's number in the clip, from 1 */
  n: number;
  /** its file name, for a folder */
  name?: string;
}

export interface Clip {
  /** the clip as given (the pairs folder for pairs) */
  display: string;
  kind: 'images' | 'video' | 'pairs';
  /** decodes the clean frames (a folder's chosen files, or the whole video file) */
  clean: InputInfo;
  /** frames of `clean` to pass over before the first chosen one (a video file) */
  skip: number;
  /** pairs: the chosen rainy frames */
  rain?: InputInfo;
  frames: ChosenFrame[];
  from: number;
  to: number;
  width: number;
  height: number;
  /** the folder of a folder clip (where CDnet's groundtruth/ sits beside input/) */
  folder?: string;
}

const IMAGE_EXT = /\.(png|jpe?g|bmp|tiff?|webp)$/i;
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function whole(v: number | undefined, flag: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UserError(`${flag} ${v} must be a whole number from 1 (frames count from 1)`);
}

/** The range from..to within a clip of `count` frames (unset `to`: the last frame). */
function range(req: ClipRequest, count: number | undefined, what: string, estimate?: number): { from: number; to: number } {
  whole(req.from, '--from');
  whole(req.to, '--to');
  const from = req.from ?? 1;
  if (req.to !== undefined && from > req.to) throw new UserError(`--from ${from} is after --to ${req.to}`);
  if (count === undefined) {
    // (a video whose container declares no frame count: decoding tells whether the range is there)
    const to = req.to ?? estimate;
    if (to === undefined) throw new UserError(`${what} does not say how many frames it has: give --to`);
    if (from > to) throw new UserError(`--from ${from} is past the last frame of ${what} (about ${to} frames)`);
    return { from, to };
  }
  if (from > count) throw new UserError(`--from ${from} is past the last frame of ${what} (${count} frames)`);
  if (req.to !== undefined && req.to > count) throw new UserError(`--to ${req.to} is past the last frame of ${what} (${count} frames)`);
  return { from, to: req.to ?? count };
}

function checkSize(width: number, height: number, what: string): void {
  if (width < SSIM_WINDOW || height < SSIM_WINDOW) throw new UserError(`${what}: ${width}x${height} frames are smaller than the ${SSIM_WINDOW}x${SSIM_WINDOW} SSIM window`);
}

function images(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => IMAGE_EXT.test(f) && statSync(path.join(dir, f)).isFile())
    .sort(natural.compare);
}

function subset(info: InputInfo, files: string[]): InputInfo {
  return { ...info, files, frameCount: files.length, frameCountExact: true };
}

async function folderInfo(dir: string, files: string[], what: string): Promise<InputInfo> {
  // (probes the first file for the frame size; every frame is scaled to it when decoded)
  const info = await probeInput(dir);
  if (info.kind !== 'images') throw new UserError(`${what} is not a folder of frames`);
  return subset(
    info,
    files.map((f) => path.resolve(dir, f)),
  );
}

async function pairsClip(req: ClipRequest): Promise<Clip> {
  const dir = req.pairs!;
  const layout = '--pairs takes a folder holding rain/ and clean/ frame folders with matching names';
  if (!existsSync(dir)) throw new UserError(`--pairs folder not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UserError(`--pairs ${dir} is not a folder (${layout})`);
  const lists: Record<'rain' | 'clean', string[]> = { rain: [], clean: [] };
  for (const sub of ['rain', 'clean'] as const) {
    const p = path.join(dir, sub);
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new UserError(`--pairs ${dir} has no ${sub}/ folder (${layout})`);
    lists[sub] = images(p);
    if (lists[sub].length === 0) throw new UserError(`${p} holds no frames (png, jpg, bmp, tiff, webp)`);
  }
  const clean = new Set(lists.clean);
  const rainy = new Set(lists.rain);
  const onlyRain = lists.rain.filter((n) => !clean.has(n));
  const onlyClean = lists.clean.filter((n) => !rainy.has(n));
  if (onlyRain.length || onlyClean.length) {
    const first = (xs: string[]) => xs.slice(0, 3).join(', ') + (xs.length > 3 ? `, … (${xs.length})` : '');
    const parts = [onlyRain.length ? `only in rain/: ${first(onlyRain)}` : '', onlyClean.length ? `only in clean/: ${first(onlyClean)}` : ''].filter(Boolean);
    throw new UserError(`rain/ and clean/ of ${dir} do not match (${parts.join('; ')})`);
  }
  const { from, to } = range(req, lists.rain.length, `--pairs ${dir}`);
  const chosen = lists.rain.slice(from - 1, to);
  const rain = await folderInfo(path.join(dir, 'rain'), chosen, `${dir}/rain`);
  const cleanInfo = await folderInfo(path.join(dir, 'clean'), chosen, `${dir}/clean`);
  if (rain.width !== cleanInfo.width || rain.height !== cleanInfo.height)
    throw new UserError(`--pairs ${dir}: rain/ frames are ${rain.width}x${rain.height} but clean/ frames are ${cleanInfo.width}x${cleanInfo.height}`);
  checkSize(rain.width, rain.height, `--pairs ${dir}`);
  return {
    display: dir,
    kind: 'pairs',
    clean: cleanInfo,
    skip: 0,
    rain,
    frames: chosen.map((name, i) => ({ n: from + i, name })),
    from,
    to,
    width: rain.width,
    height: rain.height,
    folder: path.join(dir, 'clean'),
  };
}

export async function resolveClip(req: ClipRequest): Promise<Clip> {
  if (req.clip && req.pairs) throw new UserError('give a clean clip or --pairs DIR, not both');
  if (req.pairs) return pairsClip(req);
  const clip = req.clip;
  if (!clip) throw new UserError('give a clean clip (a folder of frames or a video file), or --pairs DIR with rain/ and clean/ frames');
  if (!existsSync(clip)) throw new UserError(`clip not found: ${clip}`);
  if (statSync(clip).isDirectory()) {
    const files = images(clip);
    if (files.length === 0) throw new UserError(`clip folder ${clip} holds no frames (png, jpg, bmp, tiff, webp)`);
    const { from, to } = range(req, files.length, clip);
    const chosen = files.slice(from - 1, to);
    const clean = await folderInfo(clip, chosen, clip);
    checkSize(clean.width, clean.height, clip);
    return { display: clip, kind: 'images', clean, skip: 0, frames: chosen.map((name, i) => ({ n: from + i, name })), from, to, width: clean.width, height: clean.height, folder: clip };
  }
  const info = await probeInput(clip);
  if (info.kind !== 'file') throw new UserError(`clip ${clip} is not a folder of frames or a video file`);
  checkSize(info.width, info.height, clip);
  const { from, to } = range(req, info.frameCountExact ? info.frameCount : undefined, clip, info.frameCount);
  return { display: clip, kind: 'video', clean: info, skip: from - 1, frames: Array.from({ length: to - from + 1 }, (_, i) => ({ n: from + i })), from, to, width: info.width, height: info.height };
}
