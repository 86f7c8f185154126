// Decodes one still image to rgb24 with the bundled ffmpeg. Off the hot path (evaluation only);
// ffmpeg writes a PPM, whose header carries the size, so one process per image is all it takes.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { ffmpegPath, ffmpegReason, QUIET } from '../util/ffmpeg.js';

export interface RgbImage {
  width: number;
  height: number;
  /** rgb24, HWC */
  data: Buffer;
}

const TIMEOUT_MS = 30_000;

export function readImage(file: string): Promise<RgbImage> {
  if (statSync(file).size === 0) return Promise.reject(new UserError(`image ${file} is empty (0 bytes)`));
  // image2 with pattern_type none: a '%' in a file name is a character, not a sequence pattern.
  const args = [...QUIET, '-f', 'image2', '-pattern_type', 'none', '-i', file, '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'ppm', '-pix_fmt', 'rgb24', 'pipe:1'];
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bad = (why: string) => reject(new UserError(`image ${file} cannot be read: ${why}`));
      if (signal) return bad(`ffmpeg gave no answer within ${TIMEOUT_MS / 1000} s`);
      const image = parsePpm(Buffer.concat(chunks));
      if (code !== 0 || !image) return bad(code !== 0 ? ffmpegReason(stderr) : 'ffmpeg decoded no picture from it');
      resolve(image);
    });
  });
}

/** A binary PPM (P6, maxval 255), as ffmpeg writes it; null when the data is not a whole one. */
export function parsePpm(buf: Buffer): RgbImage | null {
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(buf.subarray(0, 64).toString('latin1'));
  if (!m) return null;
  const width = Number(m[1]);
  const height = Number(m[2]);
  const data = buf.subarray(m[0].length);
  if (width < 1 || height < 1 || data.length !== width * height * 3) return null;
  return { width, height, data };
}
