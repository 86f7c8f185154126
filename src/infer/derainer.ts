// Main-thread side of inference: hands frames to the worker and gets derained frames back.
// Up to two frames are in flight (double buffering): while the worker runs one, the caller
// decodes and writes the others.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Frame } from '../frame.js';
import { EpUnavailableError, ModelError } from './errors.js';
import type { EpChoice } from './session.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

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
}

export interface Derained {
  frame: Frame;
  inferenceMs: number;
}

interface Pending {
  resolve: (d: Derained) => void;
  reject: (e: Error) => void;
  frame: Frame;
}

// Run as .ts under tsx (tests), as .js once built.
const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), `infer-worker${path.extname(fileURLToPath(import.meta.url))}`);

/** Built, the worker is plain JavaScript; from sources (tests, tsx) it registers the TypeScript loader first. */
function spawnWorker(options: WorkerOptions): Worker {
  if (!workerFile.endsWith('.ts')) return new Worker(workerFile, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(workerFile).href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export class Derainer {
  private readonly pending = new Map<number, Pending>();
  private readonly spare: ArrayBuffer[] = [];
  private nextId = 0;
  /** lanes whose state (smoothing, a temporal model's past frames) has started; a lane's first frame (or the first after reset) starts it from itself */
  private readonly started = new Set<number>();
  private failure: Error | null = null;
  private readonly exited: Promise<void>;
  /** the last frame handed over: the worker runs frames in order, so it settles last */
  private lastRun: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly worker: Worker,
    private readonly opts: DerainerOptions,
    readonly ep: string,
    readonly skippedEps: string[],
  ) {
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(err));
    // Kept from the start, so close() also returns after the worker has died on its own.
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        if (this.pending.size > 0) this.fail(new Error(`inference worker exited (code ${code})`));
        resolve();
      }),
    );
  }

  static async open(opts: DerainerOptions): Promise<Derainer> {
    const init: WorkerInit = { model: opts.model, ep: opts.ep, threads: opts.threads, width: opts.width, height: opts.height, past: opts.past ?? null };
    // The model is copied to the worker once (a transfer could detach memory the caller still holds).
    const worker = spawnWorker({ workerData: init });
    const first = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      if (first.type !== 'open-failed') throw new Error('inference worker did not start');
      if (first.epUnavailable) throw new EpUnavailableError(`execution provider ${opts.ep} is not available: ${first.message}`);
      throw new ModelError(`cannot be loaded by onnxruntime: ${first.message.split('\n')[0]}`);
    }
    return new Derainer(worker, opts, first.ep, first.skipped);
  }

  /**
   * Derains one frame. Streams sharing this session pass their own `lane`, so each keeps its own
   * smoothing state, and may pass their own smoothing strength.
   */
  infer(frame: Frame, opts: { lane?: number; smooth?: number } = {}): Promise<Derained> {
    const lane = opts.lane ?? 0;
    if (this.failure) return Promise.reject(this.failure);
    if (frame.width !== this.opts.width || frame.height !== this.opts.height) {
      return Promise.reject(new Error(`frame is ${frame.width}x${frame.height}, the model was built for ${this.opts.width}x${this.opts.height}`));
    }
    const buf = this.spare.pop() ?? new ArrayBuffer(frame.data.length);
    new Uint8Array(buf).set(frame.data);
    const id = this.nextId++;
    const msg: ToWorker = { type: 'run', id, frame: buf, smooth: opts.smooth ?? this.opts.smooth, reset: !this.started.has(lane), lane };
    this.started.add(lane);
    const run = new Promise<Derained>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, frame });
      this.worker.postMessage(msg, [buf]);
    });
    this.lastRun = run.catch(() => {});
    return run;
  }

  /** The lane's next frame restarts its smoothing state (a reconnect or a scene the caller knows changed). */
  reset(lane = 0): void {
    this.started.delete(lane);
  }

  /** Forgets a lane's smoothing state (a stream that left a shared session). */
  dropLane(lane: number): void {
    this.started.delete(lane);
    if (!this.failure) this.worker.postMessage({ type: 'drop-lane', lane } satisfies ToWorker);
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type !== 'done' && msg.type !== 'run-failed') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.spare.push(msg.frame);
    if (msg.type === 'run-failed') p.reject(new Error(msg.message));
    else p.resolve({ frame: { ...p.frame, data: Buffer.from(msg.out) }, inferenceMs: msg.ms });
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * Finishes the frames already handed over, then stops the worker. Terminating a worker in the
   * middle of a native onnxruntime run aborts the whole process (onnxruntime-node's binding), and
   * a heavy model's run can take many seconds on a CPU, so only a worker that has no run left
   * and still does not exit is terminated.
   */
  async close(): Promise<void> {
    this.failure ??= new Error('the derainer is closed');
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await Promise.race([this.lastRun, this.exited]);
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
