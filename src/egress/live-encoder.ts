// An ffmpeg H.264 encoder fed raw frames as they come (RTSP push, recording). Live outputs
// never hold the pipeline up: when ffmpeg has not taken the previous frame yet, the new one
// skips this encoder (the caller counts it). Frames are stamped with the wall clock on
// arrival, so an output keeps real time however irregularly frames arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Frame } from '../frame.js';
import { ffmpegPath, ffmpegReason, QUIET, stderrTail, deprioritize, threadsFor } from '../util/ffmpeg.js';

export interface LiveEncoderOptions {
  width: number;
  height: number;
  fps: number;
  /** x264 preset: ultrafast for live outputs, a slower one for recordings */
  preset?: string;
  /** everything after the encoder settings: format and destination */
  output: string[];
}

export function h264Args(opts: { width: number; height: number; fps: number; preset?: string }): string[] {
  const odd = opts.width % 2 === 1 || opts.height % 2 === 1;
  return [
    ...(odd ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : []),
    // Each frame keeps its arrival time: when inference runs slower than the camera, only the
    // frames that exist are encoded (a constant rate would encode every duplicate too).
    '-vsync',
    'vfr',
    '-c:v',
    'libx264',
    '-preset',
    opts.preset ?? 'ultrafast',
    '-tune',
    'zerolatency',
    '-threads',
    String(threadsFor(opts.width, opts.height)),
    // A keyframe every second of time, not of frames: a reader that joins (or a recording
    // segment) starts within a second at any frame rate.
    '-force_key_frames',
    'expr:gte(t,n_forced*1)',
    '-g',
    String(Math.max(2, Math.round(opts.fps * 2))),
    '-pix_fmt',
    'yuv420p',
  ];
}

export class LiveEncoder {
  private readonly child: ChildProcess;
  private readonly tail: () => string;
  private readonly exited: Promise<number | null>;
  private readonly frameBytes: number;
  private closing = false;
  alive = true;
  framesWritten = 0;

  /** `onExit`: the exit code, the first line of the error, whether we stopped it, and the last lines of its stderr */
  constructor(opts: LiveEncoderOptions, onExit: (code: number | null, reason: string, expected: boolean, stderr: string) => void = () => {}) {
    this.frameBytes = opts.width * opts.height * 3;
    const input = [
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-video_size',
      `${opts.width}x${opts.height}`,
      // millisecond time base for the wall-clock stamps
      '-framerate',
      '1000',
      '-use_wallclock_as_timestamps',
      '1',
      // The input's size and format are given: unasked, ffmpeg reads 5 MB or 5 s of frames to
      // analyse it before it encodes any (4.4 s for 192x108 at 10 fps), at every start and
      // restart of an output, and an RTSP server that is gone is found only after that.
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-i',
      'pipe:0',
    ];
    // Its own process group: a terminal's Ctrl-C reaches us, and we finish the output ourselves.
    this.child = spawn(ffmpegPath(), [...QUIET, ...input, ...h264Args(opts), ...opts.output], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    deprioritize(this.child.pid);
    this.tail = stderrTail(this.child);
    this.child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        this.alive = false;
        onExit(code, ffmpegReason(this.tail()), this.closing, this.tail());
        resolve(code);
      }),
    );
    this.child.on('error', () => (this.alive = false));
  }

  /** False when the frame was skipped: the encoder is still busy with the previous one, or gone. */
  write(frame: Frame): boolean {
    const stdin = this.child.stdin!;
    if (!this.alive || this.closing || !stdin.writable || stdin.writableLength >= this.frameBytes) return false;
    stdin.write(frame.data);
    this.framesWritten++;
    return true;
  }

  /** Ends the input and lets ffmpeg finish the output (a playable file); forced after `timeoutMs`. */
  async close(timeoutMs = 3000): Promise<void> {
    this.closing = true;
    if (!this.alive) return;
    this.child.stdin!.end();
    const term = setTimeout(() => this.child.kill('SIGTERM'), timeoutMs);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs + 1000);
    await this.exited;
    clearTimeout(term);
    clearTimeout(kill);
  }
}
