// What an output argument names: a video file, a PNG frame folder, or nothing ("-").
import path from 'node:path';
import { UserError } from '../errors.js';

export type OutputTarget = { kind: 'none' } | { kind: 'video'; path: string; format: string } | { kind: 'frames'; path: string };

const VIDEO_FORMATS: Record<string, string> = { '.mp4': 'mp4', '.m4v': 'mp4', '.mov': 'mov', '.mkv': 'matroska' };

export function parseOutput(arg: string | undefined): OutputTarget {
  if (arg === undefined || arg === '-') return { kind: 'none' };
  const ext = path.extname(arg).toLowerCase();
  if (VIDEO_FORMATS[ext]) return { kind: 'video', path: arg, format: VIDEO_FORMATS[ext] };
  if (ext && !arg.endsWith('/')) throw new UserError(`output ${arg}: unsupported extension "${ext}" (use .mp4, .mkv or .mov for video, a folder name for PNG frames, or - for none)`);
  return { kind: 'frames', path: arg.replace(/\/+$/, '') };
}
