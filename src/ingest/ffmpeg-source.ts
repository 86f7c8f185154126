// A Source that decodes any input ffmpeg reads into rgb24 frames through a FrameRing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Frame, Source } from '../frame.js';
import { UserError, redactUrl } from '../errors.js';
import { ffmpegPath, ffmpegReason, QUIET, stderrTail, deprioritize } from '../util/ffmpeg.js';
import { FrameRing, type RingPolicy } from './frame-ring.js';
import type { InputInfo } from './probe.js';

export interface SourceOptions {
  /** ring slots; small: a few frames of decode-ahead is all that overlapping needs */
  slots?: number;
  /** default: block for files and image sequences, drop-oldest for live inputs */
  policy?: RingPolicy;
  onDrop?: (frame: Omit<Frame, 'data'>) => void;
  /** ffmpeg's input arguments, replacing those derived from the input (live sources set transport, timeouts, lavfi) */
  inputArgs?: string[];
  /**
   * Called once ffmpeg has opened the input and started decoding (its first progress report,
   * on a pipe of its own), which may be long before the first frame: a camera's stream
   * decodes only from its next keyframe.
   */
  onOpened?: () => void;
}

/** ffconcat list for an image folder: the sorted order is ours, not ffmpeg's glob order. */
function concatList(files: string[], fps: number): string {
  const quote = (f: string) => `'${f.replace(/'/g, "'\\''")}'`;
  const lines = ['ffconcat version 1.0'];
  for (const f of files) lines.push(`file ${quote(path.resolve(f))}`, `duration ${1 / fps}`);
  return lines.join('\n') + '\n';
}

export class FfmpegSource implements Source {
  private child: ChildProcess | null = null;
  private stopping = false;
  private tmpDir: string | null = null;
  readonly ring: FrameRing;
  framesDecoded = 0;
  /** the signal ffmpeg died of, when it was not stopped by us (a crash) */
  crashSignal: NodeJS.Signals | null = null;
  /** what ffmpeg complained of while it decoded to the end all the same (a damaged input), or null */
  decodeErrors: string | null = null;

  constructor(
    readonly info: InputInfo,
    private readonly opts: SourceOptions = {},
  ) {
    const policy = opts.policy ?? (info.kind === 'live' ? 'drop-oldest' : 'block');
    this.ring = new FrameRing(opts.slots ?? 4, info.width * info.height * 3, policy, opts.onDrop);
  }

  private inputArgs(): string[] {
    const { info } = this;
    if (this.opts.inputArgs) return this.opts.inputArgs;
    if (info.kind === 'live') return [...(/^rtsps?:/i.test(info.location) ? ['-rtsp_transport', 'tcp'] : []), '-i', info.location];
    if (info.kind === 'file') return ['-i', info.location];
    this.tmpDir = mkdtempSync(path.join(os.tmpdir(), 'derain-'));
    const list = path.join(this.tmpDir, 'frames.ffconcat');
    writeFileSync(list, concatList(info.files!, info.fps));
    return ['-f', 'concat', '-safe', '0', '-i', list];
  }

  start(): AsyncIterable<Frame> {
    const { info } = this;
    const { onOpened } = this.opts;
    const args = [
      ...QUIET,
      // (fd 3: the progress reports, so that stderr keeps only errors)
      ...(onOpened ? ['-progress', 'pipe:3'] : []),
      ...this.inputArgs(),
      '-map',
      '0:v:0',
      // Every decoded frame exactly once: no duplication or dropping to a constant rate.
      '-vsync',
      '0',
      '-vf',
      `scale=${info.width}:${info.height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    // Its own process group: a terminal's Ctrl-C reaches us, and we decide how the decoder stops.
    const child = spawn(ffmpegPath(), args, { stdio: onOpened ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'], detached: true });
    deprioritize(child.pid);
    this.child = child;
    const tail = stderrTail(child);
    if (onOpened) {
      const progress = child.stdio[3] as Readable;
      progress.on('error', () => {});
      progress.once('data', () => onOpened());
      progress.resume();
    }
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code, signal) => {
        if (!this.stopping && signal) this.crashSignal = signal;
        resolve(code);
      }),
    );
    child.on('error', (err) => this.ring.end(new UserError(`cannot start ffmpeg (${ffmpegPath()}): ${err.message}`, 1)));
    void this.pump(child, exited, tail);
    return this.ring.frames();
  }

  private async pump(child: ChildProcess, exited: Promise<number | null>, tail: () => string): Promise<void> {
    const { ring, info } = this;
    const frameBytes = ring.frameBytes;
    let slot: Buffer | null = null;
    let filled = 0;
    try {
      for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) {
          if (!slot) {
            slot = await ring.acquire();
            filled = 0;
          }
          const n = chunk.copy(slot, filled, off, off + Math.min(chunk.length - off, frameBytes - filled));
          filled += n;
          off += n;
          if (filled === frameBytes) {
            const seq = this.framesDecoded++;
            ring.commit(slot, { width: info.width, height: info.height, seq, pts: seq / info.fps, capturedAt: Date.now() });
            slot = null;
          }
        }
      }
    } catch {
      // The pipe closes early when we stop the decoder; the exit code tells the rest.
    }
    if (slot) ring.giveBack(slot);
    const code = await exited;
    this.cleanup();
    if (this.stopping || code === 0) {
      // (-loglevel error: a clean input prints nothing)
      if (!this.stopping && tail()) this.decodeErrors = redactUrl(ffmpegReason(tail()));
      ring.end();
    } else if (this.framesDecoded === 0 && info.kind === 'file') {
      // (the input, not the run, is what is wrong: the same as a file that ends before its first frame)
      ring.end(new UserError(`input ${info.display} holds no frame that can be decoded (ffmpeg: ${redactUrl(ffmpegReason(tail()))})`));
    } else {
      ring.end(new UserError(`decoding ${redactUrl(info.display)} failed: ${redactUrl(ffmpegReason(tail()))}`, 1));
    }
  }

  private cleanup(): void {
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    this.tmpDir = null;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A decoder blocked on a full ring never reads its pipe to the end, so the process 'close'
    // would never come (a hang seen when inference failed mid-file): free the pump, drop the pipe.
    this.ring.close();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      child.stdout?.destroy();
      // Once ffmpeg is decoding, its first SIGTERM only asks its main loop to finish, which a
      // read from a silent input (a stalled camera) blocks for up to 10 s; a second one
      // interrupts the read. Without it each stall restart waited for the SIGKILL below.
      const again = setTimeout(() => child.kill('SIGTERM'), 200);
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await done;
      clearTimeout(again);
      clearTimeout(t);
    }
    this.cleanup();
  }
}
