// Size and frame rate of a live input, asked with the same input arguments the decoder will use.
import { redactUrl } from '../errors.js';
import { ffmpegReason, ffprobePath, runTool } from '../util/ffmpeg.js';

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

/** Throws an Error whose message is the reason (credentials hidden); the caller retries. */
export async function probeLive(inputArgs: string[], timeoutMs: number): Promise<LiveFormat> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-select_streams', 'v:0', ...inputArgs];
  const res = await runTool(ffprobePath(), args, timeoutMs);
  if (res.signal) throw new Error(`no answer within ${(timeoutMs / 1000).toFixed(0)} s`);
  let streams: { width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string }[] = [];
  try {
    streams = (JSON.parse(res.stdout || '{}') as { streams?: typeof streams }).streams ?? [];
  } catch {
    /* reported below */
  }
  if (res.code !== 0) throw new Error(redactUrl(ffmpegReason(res.stderr)));
  const s = streams[0];
  if (!s) throw new Error('it has no video stream');
  if (!s.width || !s.height) throw new Error('the video stream has no frame size yet');
  return { width: s.width, height: s.height, fps: rate(s.avg_frame_rate) || rate(s.r_frame_rate) || 25 };
}
