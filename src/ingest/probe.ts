// Finds out what an input is (video file, image folder, image pattern, live URL) and its size,
// frame rate and frame count, before any decoder starts.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError, redactUrl } from '../errors.js';
import { ffmpegReason, ffprobePath, runTool } from '../util/ffmpeg.js';
import { isSupportedUrl, unsupportedScheme, urlFailureReason } from './input-url.js';

export type InputKind = 'file' | 'images' | 'pattern' | 'live';

export interface InputInfo {
  kind: InputKind;
  /** the input as given, with any credentials hidden */
  display: string;
  /** the input as ffmpeg gets it (file, pattern, URL), or the sorted image files of a folder */
  location: string;
  files?: string[];
  width: number;
  height: number;
  fps: number;
  /** known for files and image sequences; absent for live inputs */
  frameCount?: number;
  /** whether frameCount came from the container's own index (exact), not an estimate */
  frameCountExact: boolean;
  /** files: the duration the container declares, in seconds (a truncated file decodes less) */
  durationSeconds?: number;
  /** files: why `fps` is not the rate the file declares (none, or one that cannot be right) */
  fpsNote?: string;
}

const IMAGE_EXT = /\.(png|jpe?g|bmp|tiff?|webp)$/i;
/**
 * Frame rates taken from a file: outside them the rate is a broken header, not a camera (the
 * encoder of the output fails on one frame per 10^6 s, and a million frames a second is no video).
 */
const MIN_FPS = 0.001;
const MAX_FPS = 1000;
/**
 * The largest frame taken, in pixels: a header may declare any size, and the frames in flight
 * (a few of them, as RGB and as the model's floats) would take gigabytes before the first one
 * is decoded. 64 Mpx is 8192x8192, above 8K video and most photographs.
 */
export const MAX_FRAME_PIXELS = 8192 * 8192;
const PROBE_TIMEOUT_MS = 20_000;

export const DEFAULT_IMAGE_FPS = 25;

const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

interface ProbeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
}

function rate(r: string | undefined): number {
  if (!r) return 0;
  const [n, d] = r.split('/').map(Number);
  const v = d ? n / d : n;
  return Number.isFinite(v) && v >= MIN_FPS && v <= MAX_FPS ? v : 0;
}

/** The frame rate to use for a file or stream: --fps, else the one declared, else 25 and a note saying why. */
function streamRate(s: ProbeStream, given: number | undefined): { fps: number; fpsNote?: string } {
  if (given !== undefined) return { fps: given };
  const fps = rate(s.avg_frame_rate) || rate(s.r_frame_rate);
  if (fps) return { fps };
  const declared = [s.avg_frame_rate, s.r_frame_rate].find((r) => r && r !== '0/0');
  const why = declared ? `the declared frame rate ${declared} is not plausible` : 'no frame rate is declared';
  return { fps: DEFAULT_IMAGE_FPS, fpsNote: `${why}: ${DEFAULT_IMAGE_FPS} fps used (set --fps)` };
}

async function ffprobe(location: string, extra: string[], what: string, url = false): Promise<ProbeStream> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_entries', 'format=duration', '-select_streams', 'v:0', ...extra, location];
  const res = await runTool(ffprobePath(), args, PROBE_TIMEOUT_MS);
  // A URL's own problems (a host name that does not resolve) before ffprobe's account of them:
  // the bundled static ffprobe crashes on any host name, which is no timeout.
  const fromUrl = url && (res.signal || res.code !== 0) ? await urlFailureReason(location, res.signal !== null && !res.timedOut) : null;
  if (fromUrl) throw new UserError(`${what}: ${fromUrl}`);
  if (res.timedOut) throw new UserError(`${what}: no answer within ${PROBE_TIMEOUT_MS / 1000} s`);
  if (res.signal) throw new UserError(`${what}: ffprobe crashed (${res.signal})${res.stderr.trim() ? `: ${redactUrl(ffmpegReason(res.stderr))}` : ''}`);
  let streams: ProbeStream[] = [];
  let duration: string | undefined;
  try {
    const parsed = JSON.parse(res.stdout || '{}') as { streams?: ProbeStream[]; format?: { duration?: string } };
    streams = parsed.streams ?? [];
    duration = parsed.format?.duration;
  } catch {
    /* handled below */
  }
  if (res.code !== 0 || streams.length === 0) {
    const reason = res.code !== 0 ? ffmpegReason(res.stderr) : 'it has no video stream';
    const hint = url && /\b401\b/.test(reason) ? ': check the user name and password in the URL' : '';
    throw new UserError(`${what} ${url ? 'cannot be opened' : 'is not a readable video'}: ${redactUrl(reason)}${hint}`);
  }
  const s = streams[0];
  if (!s.width || !s.height) throw new UserError(`${what}: the video stream has no frame size`);
  if (s.width * s.height > MAX_FRAME_PIXELS)
    throw new UserError(
      `${what}: its frames are ${s.width}x${s.height} (${Math.round((s.width * s.height) / 1e6)} Mpx), more than derain takes (${MAX_FRAME_PIXELS / 2 ** 20} Mpx, such as 8192x8192)`,
    );
  return { ...s, duration: s.duration ?? duration };
}

async function countPackets(file: string): Promise<number | undefined> {
  const res = await runTool(ffprobePath(), ['-v', 'error', '-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file], 120_000);
  const n = parseInt(res.stdout.trim(), 10);
  return res.code === 0 && n > 0 ? n : undefined;
}

/** Regex for the files a printf-style pattern such as frames/%03d.png matches. */
function patternRegex(base: string): RegExp {
  const esc = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp('^' + esc.replace(/%0?(\d*)d/, (_m, w: string) => (w ? `\\d{${w}}` : '\\d+')) + '$');
}

export async function probeInput(input: string, opts: { fps?: number } = {}): Promise<InputInfo> {
  if (isSupportedUrl(input)) {
    const display = redactUrl(input);
    const extra = /^rtsps?:/i.test(input) ? ['-rtsp_transport', 'tcp'] : [];
    const s = await ffprobe(input, extra, `live input ${display}`, true);
    return { kind: 'live', display, location: input, width: s.width!, height: s.height!, ...streamRate(s, opts.fps), frameCountExact: false };
  }

  const scheme = unsupportedScheme(input);
  if (scheme) throw new UserError(`input ${redactUrl(input)}: ${scheme}`);

  if (input.includes('%')) {
    const dir = path.dirname(input);
    const re = patternRegex(path.basename(input));
    const files = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => re.test(f))
          .sort(natural.compare)
      : [];
    if (files.length === 0) throw new UserError(`input pattern ${input} matches no files`);
    const s = await ffprobe(path.join(dir, files[0]), [], `input image ${path.join(dir, files[0])}`);
    const paths = files.map((f) => path.resolve(dir, f));
    return { kind: 'pattern', display: input, location: input, files: paths, width: s.width!, height: s.height!, fps: opts.fps ?? DEFAULT_IMAGE_FPS, frameCount: files.length, frameCountExact: true };
  }

  if (!existsSync(input)) throw new UserError(`input not found: ${input}`);
  const st = statSync(input);

  if (st.isDirectory()) {
    const files = readdirSync(input)
      .filter((f) => IMAGE_EXT.test(f))
      .sort(natural.compare)
      .map((f) => path.resolve(input, f));
    if (files.length === 0) throw new UserError(`input folder ${input} holds no images (png, jpg, bmp, tiff, webp)`);
    const s = await ffprobe(files[0], [], `input image ${files[0]}`);
    return { kind: 'images', display: input, location: input, files, width: s.width!, height: s.height!, fps: opts.fps ?? DEFAULT_IMAGE_FPS, frameCount: files.length, frameCountExact: true };
  }

  if (st.size === 0) throw new UserError(`input ${input} is empty (0 bytes)`);
  const s = await ffprobe(input, [], `input ${input}`);
  const declared = parseInt(s.nb_frames ?? '', 10);
  const frameCount = declared > 0 ? declared : await countPackets(input);
  return {
    kind: 'file',
    display: input,
    location: input,
    width: s.width!,
    height: s.height!,
    ...streamRate(s, opts.fps),
    frameCount,
    frameCountExact: declared > 0,
    ...(Number(s.duration) > 0 ? { durationSeconds: Number(s.duration) } : {}),
  };
}
