// Sinks that encode frames with ffmpeg: H.264 video files and PNG frame folders.
// Output is written beside the target under a temporary name and moved into place only
// when ffmpeg finished cleanly, so a file at the target name is always complete.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Frame, Sink } from '../frame.js';
import { UserError } from '../errors.js';
import { ffmpegPath, ffmpegReason, QUIET, stderrTail, deprioritize } from '../util/ffmpeg.js';
import type { OutputTarget } from './output-target.js';

export interface EncoderOptions {
  width: number;
  height: number;
  fps: number;
}

const FRAME_NAME = /^\d{6}\.png$/;

function incompleteName(p: string): string {
  const ext = path.extname(p);
  return ext ? p.slice(0, -ext.length) + '.incomplete' + ext : p + '.incomplete';
}

export class FfmpegEncoderSink implements Sink {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private readonly tail: () => string;
  private readonly tmp: string;
  private broken: Error | null = null;
  framesWritten = 0;
  /** where the output ended up (the target, or its .incomplete name) */
  finalPath: string | null = null;
  /** set when odd sizes were padded by one pixel for yuv420p */
  readonly paddedTo: string | null = null;

  constructor(
    private readonly target: Extract<OutputTarget, { kind: 'video' | 'frames' }>,
    opts: EncoderOptions,
  ) {
    const dir = path.dirname(path.resolve(target.path));
    if (!existsSync(dir)) throw new UserError(`output folder ${dir} does not exist`);
    if (target.kind === 'frames' && existsSync(target.path)) {
      if (!statSync(target.path).isDirectory()) throw new UserError(`output ${target.path} exists and is not a folder`);
      const foreign = readdirSync(target.path).filter((f) => !FRAME_NAME.test(f));
      if (foreign.length > 0) throw new UserError(`output folder ${target.path} exists and holds other files (${foreign[0]}); choose a new or empty folder`);
    }
    this.tmp = `${target.path}.partial-${process.pid}`;
    const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${opts.width}x${opts.height}`, '-r', String(opts.fps), '-i', 'pipe:0'];
    let output: string[];
    if (target.kind === 'video') {
      const odd = opts.width % 2 === 1 || opts.height % 2 === 1;
      // yuv420p needs even sides: add one replicated column/row rather than cut one away.
      const pad = odd ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2:0:0,fillborders=left=0:right=1:top=0:bottom=1:mode=smear'] : [];
      if (odd) this.paddedTo = `${opts.width + (opts.width % 2)}x${opts.height + (opts.height % 2)}`;
      output = [
        ...pad,
        '-c:v',
        'libx264',
        '-preset',
        'superfast',
        '-crf',
        '18',
        '-pix_fmt',
        'yuv420p',
        ...(target.format === 'mp4' || target.format === 'mov' ? ['-movflags', '+faststart'] : []),
        '-f',
        target.format,
        '-y',
        this.tmp,
      ];
    } else {
      mkdirSync(this.tmp, { recursive: true });
      output = ['-f', 'image2', '-start_number', '1', path.join(this.tmp, '%06d.png')];
    }
    // Its own process group, so a terminal's Ctrl-C does not cut the file short: we finish it.
    this.child = spawn(ffmpegPath(), [...QUIET, ...input, ...output], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    deprioritize(this.child.pid);
    this.tail = stderrTail(this.child);
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    this.child.on('error', (err) => (this.broken = new UserError(`cannot start ffmpeg: ${err.message}`, 1)));
    this.child.stdin!.on('error', () => {
      this.broken ??= new Error('encoder closed its input');
    });
  }

  private encoderError(): UserError {
    return new UserError(`encoding ${this.target.path} failed: ${ffmpegReason(this.tail())}`, 1);
  }

  async write(frame: Frame): Promise<void> {
    if (this.broken) throw this.encoderError();
    const stdin = this.child.stdin!;
    this.framesWritten++;
    if (!stdin.write(frame.data)) {
      // Back-pressure, bounded: wait for the pipe to drain or the encoder to die.
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
      if (this.broken) throw this.encoderError();
    }
  }

  private async finish(): Promise<boolean> {
    this.child.stdin!.end();
    const code = await this.exited;
    return code === 0 && !this.broken;
  }

  private replaceTarget(from: string, to: string): void {
    if (existsSync(to)) rmSync(to, { recursive: true, force: true });
    renameSync(from, to);
  }

  /** Finishes the output and moves it into place. */
  async close(): Promise<void> {
    const ok = await this.finish();
    if (!ok) {
      const err = this.encoderError();
      this.discard();
      throw err;
    }
    this.replaceTarget(this.tmp, this.target.path);
    this.finalPath = this.target.path;
  }

  /** The run failed: keep what was encoded under an .incomplete name, or nothing. */
  async abort(): Promise<void> {
    const ok = await this.finish();
    if (ok && this.framesWritten > 0) {
      const dest = incompleteName(this.target.path);
      this.replaceTarget(this.tmp, dest);
      this.finalPath = dest;
    } else {
      this.discard();
    }
  }

  private discard(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
