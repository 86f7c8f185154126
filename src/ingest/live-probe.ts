// Size and frame rate of a live input, asked with the same input arguments the decoder will use.
import { redactUrl } from '../errors.js';
import { ffmpegReason, ffprobePath, runTool } from '../util/ffmpeg.js';
import { urlFailureReason } from './input-url.js';

export interface LiveFormat {
  width: number;
  height: number;
  fps: number;
}

function rate(r: string | undefined): number {
  if (!r) return 0;
  const [n, d] = r.split('/').map(Number);
  const v = d ? n / d : n;
  return Number.isFinite(v) && v > 0 && v <= 240 ? v : 0;
}

/**
 * How long ffprobe may look at the stream after it connected: it reads up to 5 s of it (its
 * default analyzeduration) when no keyframe comes (a camera with a long keyframe interval),
 * and then knows the size from the stream description anyway.
 */
export const PROBE_ANALYSIS_MS = 6000;

/**
 * Throws an Error whose message is the reason (credentials hidden); the caller retries.
 * `connectTimeoutMs` is for the connection; the stream's analysis gets PROBE_ANALYSIS_MS more.
 * `url`: the input's URL, to explain failures ffmpeg does not (a host name that does not resolve).
 * `signal`: the source stops: the probe is ended at once (a silent camera would hold a shutdown
 * for the whole probe time).
 */
export async function probeLive(inputArgs: string[], connectTimeoutMs: number, url?: string, signal?: AbortSignal): Promise<LiveFormat> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-select_streams', 'v:0', ...inputArgs];
  const res = await runTool(ffprobePath(), args, connectTimeoutMs + PROBE_ANALYSIS_MS, signal);
  if (signal?.aborted) throw new Error('stopped');
  if (url && (res.signal || res.code !== 0)) {
    const why = await urlFailureReason(url, res.signal !== null && !res.timedOut);
    if (why) throw new Error(why);
  }
  if (res.timedOut) throw new Error(`no answer within ${((connectTimeoutMs + PROBE_ANALYSIS_MS) / 1000).toFixed(0)} s`);
  if (res.signal) throw new Error(`ffprobe crashed (${res.signal})`);
  let streams: { width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string }[] = [];
  try {
    streams = (JSON.parse(res.stdout || '{}') as { streams?: typeof streams }).streams ?? [];
  } catch {
    /* reported below */
  }
  if (res.code !== 0) throw new Error(redactUrl(ffmpegReason(res.stderr)));
  const s = streams[0];
  if (!s) throw new Error('it has no video stream');
  if (!s.width || !s.height) throw new Error('connected, but the video stream has no frame size yet (no keyframe came)');
  return { width: s.width, height: s.height, fps: rate(s.avg_frame_rate) || rate(s.r_frame_rate) || 25 };
}
