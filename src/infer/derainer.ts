// The service's side of inference: hands frames to the inference process and gets derained
// frames back. Up to two frames are in flight (double buffering): while the process runs one,
// the caller decodes and writes the others.
//
// The session runs in a child process, not a worker thread: a native crash inside onnxruntime
// (an abort, a segfault, out of memory) ends the process it runs in, and a worker thread's
// process is the service. Frames cross in shared memory (frame-slots.ts) with length-prefixed
// messages on a pipe (wire.ts) saying which slot; the transport bench (bench/transport.ts)
// measured that against a worker thread, the pipe alone and Node's IPC channel.
// A process that dies or stops answering (a frame past its deadline, deadline.ts) fails the
// frames in flight with one clear error; restarting it is the owner's choice (the service
// restarts, `derain run` fails the job).
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Frame } from '../frame.js';
import { DEADLINE_WINDOW, frameDeadlineMs } from './deadline.js';
import { EpUnavailableError, ModelError } from './errors.js';
import { FrameSlots } from './frame-slots.js';
import { PIPE_FD, type FromInfer, type RunItem, type ToInfer } from './infer-protocol.js';
import { batchLimit, type BatchSetting } from './batch-setting.js';
import { gpuProvidersInstalled, type EpChoice } from './session.js';
import { spawnInferProcess } from './spawn-infer.js';
import { WireReader, writeMessage, type WireMessage } from './wire.js';

export interface DerainerOptions {
  /** the fused model (buildFusedBytes) */
  model: Uint8Array;
  width: number;
  height: number;
  ep: EpChoice;
  threads?: number;
  /** smoothing strength in [0, 1]; 0 turns smoothing off */
  smooth: number;
  /** a temporal model's past-frames state shape (prepareModel's `past`) */
  past?: number[] | null;
  /** false: frames go through the pipe, not shared memory (the transport bench compares the two) */
  frameSlots?: boolean;
  /** frames of several lanes one run may take (the model is then the batched graph, fused-graph.ts batch 'dynamic'); unset: one at a time */
  batch?: BatchSetting;
}

/** Frames in shared memory at once; more in flight go through the pipe. Two: double buffering. */
const SLOT_COUNT = 2;

export interface Derained {
  frame: Frame;
  /** the run's time (a batch's: all of its frames) */
  inferenceMs: number;
  /** the frames of the run it came from */
  batch: number;
}

interface Pending {
  resolve: (d: Derained) => void;
  reject: (e: Error) => void;
  frame: Frame;
  slot: number | null;
  /** the frames of the run it is in */
  batch: number;
}

/** A frame of a batch: whose lane it continues, at which smoothing strength. */
export interface BatchItem {
  frame: Frame;
  lane: number;
  smooth?: number;
}

type Opened = { msg: FromInfer } | { gone: string };

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

export class Derainer {
  /** in hand-over order: the process runs frames in order, so the first is the one it runs */
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** lanes whose state (smoothing, a temporal model's past frames) has started; a lane's first frame (or the first after reset) starts it from itself */
  private readonly started = new Set<number>();
  private failure: Error | null = null;
  private closing = false;
  private readonly exited: Promise<void>;
  /** the last frame handed over: the process runs frames in order, so it settles last */
  private lastRun: Promise<unknown> = Promise.resolve();
  private deadline: NodeJS.Timeout | null = null;
  /** set when the deadline killed the process: the reason its frames failed */
  private hung: string | null = null;
  private readonly deathListeners: ((err: Error) => void)[] = [];
  /** frames derained by this process */
  framesDone = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly pipe: Socket,
    reader: WireReader<FromInfer>,
    private readonly slots: FrameSlots | null,
    private readonly opts: DerainerOptions,
    /** the newest inference times after the first frame, which set the deadline (carried over by reopen) */
    private readonly recentMs: number[],
    readonly ep: string,
    readonly skippedEps: string[],
    /** the largest batch one run takes; 1 once the model has refused one */
    public maxBatch: number,
    /** why batches were asked for and are not run (the model does not take them) */
    public batchNote: string | null,
  ) {
    pipe.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) this.onMessage(m);
    });
    // (a write to a process that just died, a kill of one already gone: its exit, below, says why)
    pipe.on('error', () => {});
    child.on('error', () => {});
    // Kept from the start, so close() also returns after the process has died on its own.
    // 'close' comes after the pipe's last bytes were read: results sent before a crash still count.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.onExit(code, signal);
        slots?.close();
        resolve();
      }),
    );
  }

  /** Starts an inference process for `opts` and opens the session in it. */
  static async open(opts: DerainerOptions, recentMs: number[] = []): Promise<Derainer> {
    const frameBytes = opts.width * opts.height * 3;
    // A batch takes a slot per frame (the service has one batch in flight); where there is no
    // room for that many, as many as double buffering needs.
    const batch = opts.batch === undefined ? 1 : batchLimit(opts.batch, opts.ep !== 'cpu' && gpuProvidersInstalled());
    const slots = opts.frameSlots === false ? null : (FrameSlots.create(frameBytes, Math.max(SLOT_COUNT, batch)) ?? FrameSlots.create(frameBytes, SLOT_COUNT));
    const child = spawnInferProcess(slots?.fd ?? null);
    const pipe = child.stdio[PIPE_FD] as Socket;
    const reader = new WireReader<FromInfer>();
    pipe.on('error', () => {});
    const init: ToInfer = {
      type: 'init',
      slots: slots && { count: slots.count, frameBytes },
      ep: opts.ep,
      threads: opts.threads,
      width: opts.width,
      height: opts.height,
      past: opts.past ?? null,
      batch: opts.batch,
    };
    writeMessage(pipe, init, opts.model);
    const first = await new Promise<Opened>((resolve) => {
      const onData = (chunk: Buffer) => {
        const [m] = reader.push(chunk);
        if (m) done({ msg: m.header });
      };
      const onClose = (code: number | null, signal: NodeJS.Signals | null) => done({ gone: exitText(code, signal) });
      const onError = (err: Error) => done({ gone: err.message });
      const done = (r: Opened) => {
        pipe.off('data', onData);
        child.off('close', onClose);
        child.off('error', onError);
        resolve(r);
      };
      pipe.on('data', onData);
      child.on('close', onClose);
      child.on('error', onError);
    });
    if ('gone' in first) {
      slots?.close();
      throw new Error(`the inference process ended before its session opened (${first.gone})`);
    }
    const { msg } = first;
    if (msg.type !== 'ready') {
      child.kill('SIGKILL');
      child.once('close', () => slots?.close());
      if (msg.type !== 'open-failed') throw new Error('the inference process did not start');
      if (msg.epUnavailable) throw new EpUnavailableError(`execution provider ${opts.ep} is not available: ${msg.message}`);
      throw new ModelError(`cannot be loaded by onnxruntime: ${msg.message.split('\n')[0]}`);
    }
    return new Derainer(child, pipe, reader, slots, opts, recentMs, msg.ep, msg.skipped, msg.maxBatch, msg.batchNote);
  }

  /** A new process for the same model, which keeps this one's timings for its deadline. */
  reopen(): Promise<Derainer> {
    return Derainer.open(this.opts, [...this.recentMs]);
  }

  /** the inference process (for the API, logs and an operator's kill) */
  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** false once the process has died or was closed */
  get alive(): boolean {
    return !this.failure;
  }

  /** Calls `fn` once if the process dies without being closed, before the frames in flight fail. */
  onDeath(fn: (err: Error) => void): void {
    this.deathListeners.push(fn);
  }

  /**
   * Derains one frame. Streams sharing this session pass their own `lane`, so each keeps its own
   * smoothing state, and may pass their own smoothing strength. The frame's data is copied before
   * this returns.
   */
  infer(frame: Frame, opts: { lane?: number; smooth?: number } = {}): Promise<Derained> {
    const lane = opts.lane ?? 0;
    if (this.failure) return Promise.reject(this.failure);
    if (frame.width !== this.opts.width || frame.height !== this.opts.height) {
      return Promise.reject(new Error(`frame is ${frame.width}x${frame.height}, the model was built for ${this.opts.width}x${this.opts.height}`));
    }
    const id = this.nextId++;
    const slot = this.slots?.take() ?? null;
    const msg: ToInfer = { type: 'run', id, slot, smooth: opts.smooth ?? this.opts.smooth, reset: !this.started.has(lane), lane };
    this.started.add(lane);
    const run = new Promise<Derained>((resolve, reject) => this.pending.set(id, { resolve, reject, frame, slot, batch: 1 }));
    if (slot !== null) {
      this.slots!.writeInput(slot, frame.data);
      writeMessage(this.pipe, msg);
    } else {
      // (the pipe may hold the bytes after this returns, and the caller's decoder reuses its buffers)
      writeMessage(this.pipe, msg, Buffer.from(frame.data));
    }
    if (this.pending.size === 1) this.armDeadline();
    this.lastRun = run.catch(() => {});
    return run;
  }

  /**
   * Derains the frames of several lanes in one run (each lane at most once; up to maxBatch, a
   * larger batch runs in parts). One frame goes as infer() sends it. The frames' data is
   * copied before this returns.
   */
  inferBatch(items: BatchItem[]): Promise<Derained>[] {
    if (items.length === 1) return [this.infer(items[0].frame, items[0])];
    if (this.failure) return items.map(() => Promise.reject(this.failure!));
    const bad = items.find(({ frame }) => frame.width !== this.opts.width || frame.height !== this.opts.height);
    if (bad) {
      const err = new Error(`frame is ${bad.frame.width}x${bad.frame.height}, the model was built for ${this.opts.width}x${this.opts.height}`);
      return items.map(() => Promise.reject(err));
    }
    const runs: RunItem[] = [];
    const inBody: Buffer[] = [];
    const results = items.map(({ frame, lane, smooth }) => {
      const id = this.nextId++;
      const slot = this.slots?.take() ?? null;
      runs.push({ id, slot, smooth: smooth ?? this.opts.smooth, reset: !this.started.has(lane), lane });
      this.started.add(lane);
      if (slot !== null) this.slots!.writeInput(slot, frame.data);
      // (the pipe may hold the bytes after this returns, and the caller's decoder reuses its buffers)
      else inBody.push(Buffer.from(frame.data));
      return new Promise<Derained>((resolve, reject) => this.pending.set(id, { resolve, reject, frame, slot, batch: items.length }));
    });
    writeMessage(this.pipe, { type: 'batch', items: runs } satisfies ToInfer, inBody.length ? Buffer.concat(inBody) : undefined);
    if (this.pending.size === items.length) this.armDeadline();
    this.lastRun = results[results.length - 1].catch(() => {});
    return results;
  }

  /** The lane's next frame restarts its smoothing state (a reconnect or a scene the caller knows changed). */
  reset(lane = 0): void {
    this.started.delete(lane);
  }

  /** Forgets a lane's smoothing state (a stream that left a shared session). */
  dropLane(lane: number): void {
    this.started.delete(lane);
    if (!this.failure) writeMessage(this.pipe, { type: 'drop-lane', lane } satisfies ToInfer);
  }

  /**
   * The frame the process runs now must come back within its deadline, or the process is killed
   * as hung. The times are per frame, so a batch of n has n times the time of one.
   */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    const head = this.pending.values().next();
    if (head.done) return;
    const ms = frameDeadlineMs(this.recentMs, this.framesDone === 0) * head.value.batch;
    this.deadline = setTimeout(() => {
      this.hung = `inference process ${this.pid} hung (no result in ${(ms / 1000).toFixed(1)} s), killed`;
      this.child.kill('SIGKILL');
    }, ms);
    this.deadline.unref();
  }

  private onMessage({ header: msg, body }: WireMessage<FromInfer>): void {
    if (msg.type !== 'done' && msg.type !== 'run-failed') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.armDeadline();
    const data = msg.type === 'done' && msg.slot !== null ? this.slots!.readOutput(msg.slot) : body;
    if (p.slot !== null) this.slots!.give(p.slot);
    if (msg.type === 'run-failed') return p.reject(new Error(msg.message));
    if (msg.refused) {
      this.maxBatch = 1;
      this.batchNote = msg.refused;
    }
    const batch = msg.batch ?? 1;
    // (the first frame warms the session up: it says nothing of the frames after it)
    if (this.framesDone++ > 0) this.recentMs.push(msg.ms / batch);
    if (this.recentMs.length > DEADLINE_WINDOW) this.recentMs.shift();
    p.resolve({ frame: { ...p.frame, data }, inferenceMs: msg.ms, batch });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.deadline) clearTimeout(this.deadline);
    const err = new Error(this.hung ?? `inference process ${this.pid} died (${exitText(code, signal)})`);
    // (closing, the failure is already "closed": later frames are refused for that)
    if (!this.closing) {
      this.failure = err;
      for (const fn of this.deathListeners) fn(err);
    }
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * Finishes the frames already handed over (a heavy model's run can take many seconds on a
   * CPU), then stops the process; one that has no run left and still does not exit is killed.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      if (!this.failure) writeMessage(this.pipe, { type: 'close' } satisfies ToInfer);
      this.failure ??= new Error('the derainer is closed');
    }
    await Promise.race([this.lastRun, this.exited]);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
