// One frame to one JPEG (snapshots): a short ffmpeg run, off the event loop.
import { spawn } from 'node:child_process';
import type { Frame } from '../../frame.js';
import { ffmpegPath, QUIET } from '../../util/ffmpeg.js';

export function encodeJpeg(frame: Frame, quality = 3): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      ffmpegPath(),
      [
        ...QUIET,
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-video_size',
        `${frame.width}x${frame.height}`,
        '-i',
        'pipe:0',
        '-frames:v',
        '1',
        '-c:v',
        'mjpeg',
        '-q:v',
        String(quality),
        '-pix_fmt',
        'yuvj444p',
        '-f',
        'image2pipe',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && out.length) resolve(Buffer.concat(out));
      else reject(new Error(`JPEG encoding failed: ${err.trim().split('\n').pop() || `exit ${code}`}`));
    });
    child.stdin.end(frame.data);
  });
}
