// Fake RTSP cameras for the bench: the real clip encoded once, then published by ffmpeg with
// `-c copy` in a loop at its own rate, so a camera costs almost no CPU and the cores stay with
// the service under test. The live section and the soak both use the clip step.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { EmbeddedRtspServer } from '../src/egress/rtsp/embedded-server.ts';
import { ffmpegPath } from '../src/util/ffmpeg.ts';

/** The clip's frames (…/%03d.png) as H.264 in MP4, a keyframe every half second as cameras send, so a reader starts at once. */
export function makeCameraClip(framesPattern: string, tmp: string): string {
  const clip = path.join(tmp, 'camera.mp4');
  const r = spawnSync(ffmpegPath(), [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-framerate',
    '25',
    '-i',
    framesPattern,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-g',
    '12',
    '-pix_fmt',
    'yuv420p',
    clip,
  ]);
  if (r.status !== 0) throw new Error(`cannot make the camera clip: ${r.stderr}`);
  return clip;
}

export interface Cameras {
  /** where a reader plays camera i */
  urls: string[];
  /** publishers started again after one exited (a soak must not lose a camera silently) */
  restarts(): number;
  close(): Promise<void>;
}

/** `n` looped cameras on an RTSP server of this process (cam0 … cam<n-1>). */
export async function startCameras(clip: string, n: number, rtpPortStart: number): Promise<Cameras> {
  const server = new EmbeddedRtspServer({ host: '127.0.0.1', port: 0, rtpPortStart, rtpPortCount: 20 * n + 20 });
  await server.start();
  const publishers: (ChildProcess | null)[] = [];
  let restarts = 0;
  let closed = false;
  const publish = (i: number) => {
    const p = spawn(
      ffmpegPath(),
      ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', server.publishUrl(`cam${i}`)],
      { stdio: 'ignore' },
    );
    publishers[i] = p;
    p.on('exit', () => {
      if (closed) return;
      restarts++;
      setTimeout(() => !closed && publish(i), 1000);
    });
  };
  for (let i = 0; i < n; i++) publish(i);
  return {
    urls: Array.from({ length: n }, (_, i) => server.readUrl(`cam${i}`)),
    restarts: () => restarts,
    async close() {
      closed = true;
      for (const p of publishers) p?.kill('SIGKILL');
      await server.close();
    },
  };
}
