// A Source that decodes any input ffmpeg reads into rgb24 frames through a FrameRing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Frame, Source } from '../frame.js';
import { UserError, redactUrl } from '../errors.js';
import { ffmpegPath, ffmpegReason, QUIET, stderrTail, deprioritize, threadsFor } from '../util/ffmpeg.js';
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
  /**
   * Live decoders: frames may be skipped after decoding, before conversion (setSkipLevel), and
   * this is told how many were skipped as each frame arrives.
   */
  onSkipped?: (count: number) => void;
  /** the skip level to start at (0: every frame) */
  skipLevel?: number;
}

/** Skip stages: each a framestep of 2, off (passing every frame) until switched on. */
const SKIP_STAGES = 4;
/** Each stage's name and whether it is on at `level`. */
const skipStages = (level: number) => Array.from({ length: SKIP_STAGES }, (_, i) => ({ name: `framestep@skip${i + 1}`, on: i < level ? 1 : 0 }));

let socketSeq = 0;

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
    // Live decoders read commands on stdin (ffmpeg's interactive `c`: a filter command while it
    // runs), to skip frames without a restart.
    const { skips } = this;
    this.skipLevel = skips ? (this.opts.skipLevel ?? 0) : 0;
    const args = [
      ...(skips ? QUIET.filter((a) => a !== '-nostdin') : QUIET),
      // (fd 3: the progress reports, so that stderr keeps only errors)
      ...(onOpened ? ['-progress', 'pipe:3'] : []),
      // (an input option: the decoder's threads; files keep ffmpeg's default, one decoder alone)
      ...(info.kind === 'live' ? ['-threads', String(threadsFor(info.width, info.height))] : []),
      ...this.inputArgs(),
      '-map',
      '0:v:0',
      // Every decoded frame exactly once: no duplication or dropping to a constant rate.
      '-vsync',
      '0',
      '-vf',
      // (skipped before the scale: a skipped frame is decoded, never converted to rgb24 or copied)
      [...(skips ? skipStages(this.skipLevel).map((st) => `${st.name}=step=2:enable=${st.on}`) : []), `scale=${info.width}:${info.height}`].join(','),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    // A live decoder writes every frame the camera sends, and most are dropped when inference is
    // behind: its frames come through a socket read straight into the ring's slots, with no
    // buffer allocated per read and no copy (0.4 ms of the service's CPU per frame instead of
    // 0.7-0.8 through a pipe, measured with four 640x360 decoders at 25 fps). Files, which are
    // read at the pace of inference, keep the pipe.
    if (info.kind === 'live' && process.platform === 'linux') {
      void this.spawnOnSocket(args).catch((err: Error) => this.ring.end(new UserError(`cannot start ffmpeg (${ffmpegPath()}): ${err.message}`, 1)));
    } else {
      const child = this.spawn(args, 'pipe');
      if (child) void this.pump(child);
    }
    return this.ring.frames();
  }

  private skipLevel = 0;

  /** a live decoder told to report skipped frames: it can skip them */
  private get skips(): boolean {
    return this.info.kind === 'live' && !!this.opts.onSkipped;
  }

  /** 2^level: frames the camera sends for each one converted. */
  get skipStep(): number {
    return 2 ** this.skipLevel;
  }

  /** Convert one frame in 2^level from now on (live decoders started with onSkipped). */
  setSkipLevel(level: number): void {
    const stdin = this.child?.stdin;
    if (!this.skips || !stdin || stdin.destroyed || level === this.skipLevel) return;
    stdin.write(
      skipStages(level)
        .map((st) => `c${st.name} -1 enable ${st.on}\n`)
        .join(''),
    );
    this.skipLevel = level;
  }

  /** A whole frame in `slot`: to the ring, after the frames skipped before it. */
  private commit(slot: Buffer): void {
    const { info } = this;
    const seq = this.framesDecoded++;
    // (counted from the step: exact between changes, within a frame or two at each)
    if (this.skipLevel > 0) this.opts.onSkipped?.(this.skipStep - 1);
    this.ring.commit(slot, { width: info.width, height: info.height, seq, pts: seq / info.fps, capturedAt: Date.now() });
  }

  private exited: Promise<number | null> = Promise.resolve(null);
  private tail: () => string = () => '';

  private spawn(args: string[], stdout: 'pipe' | net.Socket): ChildProcess {
    const { onOpened } = this.opts;
    // Its own process group: a terminal's Ctrl-C reaches us, and we decide how the decoder stops.
    const stdin = this.skips ? 'pipe' : 'ignore';
    const child = spawn(ffmpegPath(), args, { stdio: onOpened ? [stdin, stdout, 'pipe', 'pipe'] : [stdin, stdout, 'pipe'], detached: true });
    // (a decoder that exits leaves the pipe broken: nothing more to tell it)
    child.stdin?.on('error', () => {});
    deprioritize(child.pid);
    this.child = child;
    this.tail = stderrTail(child);
    if (onOpened) {
      const progress = child.stdio[3] as Readable;
      progress.on('error', () => {});
      progress.once('data', () => onOpened());
      progress.resume();
    }
    this.exited = new Promise<number | null>((resolve) =>
      child.on('close', (code, signal) => {
        if (!this.stopping && signal) this.crashSignal = signal;
        resolve(code);
      }),
    );
    child.on('error', (err) => this.ring.end(new UserError(`cannot start ffmpeg (${ffmpegPath()}): ${err.message}`, 1)));
    return child;
  }

  /** Linux: a connected pair of unix sockets (abstract names, no file), ours read with `onread`. */
  private async spawnOnSocket(args: string[]): Promise<void> {
    const { ring } = this;
    const frameBytes = ring.frameBytes;
    const server = net.createServer();
    const name = `\0derain-decoder-${process.pid}-${++socketSeq}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, resolve);
    });
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    let slot: Buffer | null = null;
    let filled = 0;
    // (only when the ring is closed, as the decoder is stopped: the bytes still have to go somewhere)
    let scratch: Buffer | null = null;
    const reader = net.connect({
      path: name,
      onread: {
        buffer: () => {
          if (!slot) {
            slot = ring.acquireNow();
            filled = 0;
          }
          return (slot ?? (scratch ??= Buffer.alloc(frameBytes))).subarray(filled);
        },
        callback: (n: number) => {
          filled += n;
          if (filled === frameBytes) {
            if (slot) this.commit(slot);
            slot = null;
            filled = 0;
          }
          return true;
        },
      },
    });
    reader.on('error', () => {});
    this.reader = reader;
    const theirs = await accepted;
    server.close();
    if (this.stopping) {
      theirs.destroy();
      reader.destroy();
      ring.end();
      return;
    }
    this.spawn(args, theirs);
    // the decoder has its own descriptor: ours would keep the socket open after it exits
    theirs.destroy();
    await new Promise<void>((resolve) => reader.once('close', () => resolve()));
    if (slot) ring.giveBack(slot);
    await this.finish();
  }

  private reader: net.Socket | null = null;

  private async pump(child: ChildProcess): Promise<void> {
    const { ring } = this;
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
            this.commit(slot);
            slot = null;
          }
        }
      }
    } catch {
      // The pipe closes early when we stop the decoder; the exit code tells the rest.
    }
    if (slot) ring.giveBack(slot);
    await this.finish();
  }

  private async finish(): Promise<void> {
    const { ring, info, tail } = this;
    const code = await this.exited;
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
      this.reader?.destroy();
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
