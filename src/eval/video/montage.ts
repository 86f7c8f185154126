// One frame side by side, clean | rainy | derained, as a PNG: three raw rgb24 frames through
// ffmpeg's hstack.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { ffmpegPath, ffmpegReason, QUIET, runTool } from '../../util/ffmpeg.js';

export async function writeMontage(out: string, frames: Buffer[], width: number, height: number, tmpDir: string): Promise<void> {
  const inputs: string[] = [];
  frames.forEach((data, i) => {
    const raw = path.join(tmpDir, `montage-${i}.rgb`);
    writeFileSync(raw, data);
    inputs.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-i', raw);
  });
  const dir = path.dirname(path.resolve(out));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UserError(`--montage ${out}: cannot make its folder: ${(err as Error).message}`);
  }
  const args = [...QUIET, '-y', ...inputs, '-filter_complex', `hstack=inputs=${frames.length}`, '-frames:v', '1', '-update', '1', '-c:v', 'png', '-pix_fmt', 'rgb24', out];
  const r = await runTool(ffmpegPath(), args);
  if (r.code !== 0) throw new UserError(`--montage ${out}: ffmpeg could not write it: ${ffmpegReason(r.stderr)}`, 1);
}
