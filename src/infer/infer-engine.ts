// The onnxruntime session of one derainer and the state each lane carries across frames. It runs
// wherever the session lives (the inference process; the transport bench's worker thread), so
// the per-lane feeds are written once.
//
// Batches: a shared session's graph takes the frames of several lanes in one run (fused-graph.ts,
// batch 'dynamic'). Each lane's state stays its own here; a batch gathers the states of its
// lanes into one tensor and scatters the state the run returns back, one slice per lane (buffer
// copies, no per-pixel work). On the CPU the engine holds one session per batch size, each with
// every shape fixed (batch-graph.ts); on a GPU one session takes any batch.
import ort from 'onnxruntime-node';
import { fixBatch } from './batch-graph.js';
import { batchLimit, type BatchSetting } from './batch-setting.js';
import { FUSED_IO } from './fused-graph.js';
import { openSession, type EpChoice } from './session.js';

export interface EngineInit {
  ep: EpChoice;
  threads?: number;
  width: number;
  height: number;
  /** a temporal model's past-frames state shape (one lane's, batch 1); null for a single-frame model */
  past: number[] | null;
  /** frames one run may take: unset, the model is the one-frame graph; else the batched graph ('dynamic') */
  batch?: BatchSetting;
}

export interface EngineRun {
  /** the lane's first frame, or the first after a reset: its state restarts from this frame */
  reset: boolean;
  smooth: number;
  lane: number;
}

interface LaneState {
  state: Float32Array;
  past?: Float32Array;
}

export interface BatchResult {
  /** the derained frames, one after another in the order of the runs */
  out: Uint8Array;
  ms: number;
  /** set when the batch could not run as one and the frames ran one by one (the model takes no batch): why */
  refused?: string;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class InferEngine {
  /** per lane: the smoothing state and, for a temporal model, the past frames */
  private readonly states = new Map<number, LaneState>();
  /** batch size → the session for it (batched graph on the CPU); `dynamic` takes any size */
  private readonly sized = new Map<number, ort.InferenceSession>();
  private dynamic: ort.InferenceSession | null = null;
  /** the largest batch one run takes (1 for the one-frame graph, or once a batch was refused) */
  maxBatch = 1;
  /** why this engine runs no batches although asked to (the model does not take them) */
  batchNote: string | null = null;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly init: EngineInit,
    readonly ep: string,
    readonly skipped: string[],
  ) {}

  static async open(model: Uint8Array, init: EngineInit): Promise<InferEngine> {
    if (init.batch === undefined) {
      const opened = await openSession(model, { ep: init.ep, threads: init.threads });
      return new InferEngine(opened.session, init, opened.ep, opened.skipped);
    }
    // The batch of one decides the provider; the other sizes open on the same one.
    const opened = await openSession(fixBatch(model, 1), { ep: init.ep, threads: init.threads });
    const engine = new InferEngine(opened.session, init, opened.ep, opened.skipped);
    engine.sized.set(1, opened.session);
    const gpu = opened.ep !== 'cpu';
    const max = batchLimit(init.batch, gpu);
    if (max > 1) await engine.openBatches(model, max, gpu);
    return engine;
  }

  /** Sessions for batches of 2..max, warmed up now (a first run is slow) so that no live batch pays for it; a model that takes no batch stays at 1. */
  private async openBatches(model: Uint8Array, max: number, gpu: boolean): Promise<void> {
    const ep = this.ep as EpChoice;
    try {
      if (gpu) this.dynamic = (await openSession(model, { ep, threads: this.init.threads })).session;
      else for (let n = 2; n <= max; n++) this.sized.set(n, (await openSession(fixBatch(model, n), { ep, threads: this.init.threads })).session);
      // One dynamic session (a GPU) warms up at the smallest and largest batch: TensorRT builds
      // its engine for the range of shapes it has seen, so the sizes between need no rebuild.
      const sizes = gpu ? [...new Set([2, max])] : Array.from({ length: max - 1 }, (_, i) => i + 2);
      for (const n of sizes) {
        const lanes = Array.from({ length: n }, (_, i) => ({ reset: true, smooth: 0, lane: -1 - i }));
        await this.runOnce(new Uint8Array(n * this.frameBytes), lanes);
      }
      this.maxBatch = max;
    } catch (err) {
      this.maxBatch = 1;
      this.batchNote = `batches refused, frames run one at a time: ${(err as Error).message.split('\n')[0]}`;
    } finally {
      for (let i = 0; i < max; i++) this.states.delete(-1 - i);
    }
  }

  get frameBytes(): number {
    return this.init.width * this.init.height * 3;
  }

  private zeros(shape: number[]): ort.Tensor {
    return new ort.Tensor('float32', new Float32Array(size(shape)), shape);
  }

  /** Derains one frame (uint8 HWC); the caller runs one at a time, in order: each needs the state the previous one left. */
  async run(frame: Uint8Array, r: EngineRun): Promise<{ out: Uint8Array; ms: number }> {
    if (this.init.batch !== undefined) return this.runBatch(frame, [r]);
    const { width: W, height: H, past } = this.init;
    const t0 = performance.now();
    // On a reset the smoothing weight is 0 for this frame, so the state becomes the frame itself.
    // A temporal model's past frames restart from this one the same way (reset 1).
    const smooth = r.reset ? 0 : r.smooth;
    const prev = this.singleStates.get(r.lane) ?? { state: this.zeros([1, 3, H, W]), past: past ? this.zeros(past) : undefined };
    const feeds: Record<string, ort.Tensor> = {
      [FUSED_IO.frame]: new ort.Tensor('uint8', frame, [H, W, 3]),
      [FUSED_IO.state]: prev.state,
      [FUSED_IO.smooth]: new ort.Tensor('float32', new Float32Array([smooth]), [1]),
    };
    if (prev.past) {
      feeds[FUSED_IO.past] = prev.past;
      feeds[FUSED_IO.reset] = new ort.Tensor('float32', new Float32Array([r.reset ? 1 : 0]), [1]);
    }
    const result = await this.session.run(feeds);
    const ms = performance.now() - t0;
    this.singleStates.set(r.lane, { state: result[FUSED_IO.stateOut], past: prev.past ? result[FUSED_IO.pastOut] : undefined });
    return { out: result[FUSED_IO.out].data as Uint8Array, ms };
  }

  /** the one-frame graph's states: kept as the tensors a run returned, fed back as they are */
  private readonly singleStates = new Map<number, { state: ort.Tensor; past?: ort.Tensor }>();

  /**
   * Derains the frames of `runs.length` lanes in one run (`frames`: uint8 HWC frames one after
   * another, in the order of `runs`; each lane at most once). A batch larger than the largest
   * size is run in parts.
   */
  async runBatch(frames: Uint8Array, runs: EngineRun[]): Promise<BatchResult> {
    const t0 = performance.now();
    const fb = this.frameBytes;
    if (runs.length > this.maxBatch) {
      const out = new Uint8Array(runs.length * fb);
      for (let i = 0; i < runs.length; i += this.maxBatch) {
        const part = runs.slice(i, i + this.maxBatch);
        out.set((await this.runBatch(frames.subarray(i * fb, (i + part.length) * fb), part)).out, i * fb);
      }
      return { out, ms: performance.now() - t0 };
    }
    try {
      const out = await this.runOnce(frames, runs);
      return { out, ms: performance.now() - t0 };
    } catch (err) {
      if (runs.length === 1) throw err;
      // A model that declares a dynamic batch and still fixes it inside (a Reshape to batch 1):
      // its frames run one by one from now on, and the caller hears why.
      this.maxBatch = 1;
      this.batchNote = `a batch of ${runs.length} failed, frames run one at a time: ${(err as Error).message.split('\n')[0]}`;
      const r = await this.runBatch(frames, runs);
      return { ...r, ms: performance.now() - t0, refused: this.batchNote };
    }
  }

  private async runOnce(frames: Uint8Array, runs: EngineRun[]): Promise<Uint8Array> {
    const { width: W, height: H, past } = this.init;
    const n = runs.length;
    const session = this.sized.get(n) ?? this.dynamic;
    if (!session) throw new Error(`no session takes a batch of ${n}`);
    const stateSize = 3 * H * W;
    const pastSize = past ? size(past) : 0;
    const lanes = runs.map((r) => this.states.get(r.lane));
    // A batch of one feeds the lane's own state as it is; a larger one gathers copies.
    const gather = (pick: (s: LaneState) => Float32Array | undefined, each: number): Float32Array => {
      if (n === 1 && lanes[0]) return pick(lanes[0])!;
      const all = new Float32Array(n * each);
      lanes.forEach((s, i) => s && all.set(pick(s)!, i * each));
      return all;
    };
    // On a reset the smoothing weight is 0 for this frame, so the state becomes the frame itself.
    // A temporal model's past frames restart from this one the same way (reset 1).
    const feeds: Record<string, ort.Tensor> = {
      [FUSED_IO.frame]: new ort.Tensor('uint8', frames.subarray(0, n * this.frameBytes), [n, H, W, 3]),
      [FUSED_IO.state]: new ort.Tensor(
        'float32',
        gather((s) => s.state, stateSize),
        [n, 3, H, W],
      ),
      [FUSED_IO.smooth]: new ort.Tensor(
        'float32',
        Float32Array.from(runs, (r) => (r.reset ? 0 : r.smooth)),
        [n],
      ),
    };
    if (past) {
      feeds[FUSED_IO.past] = new ort.Tensor(
        'float32',
        gather((s) => s.past, pastSize),
        [n, ...past.slice(1)],
      );
      feeds[FUSED_IO.reset] = new ort.Tensor(
        'float32',
        Float32Array.from(runs, (r) => (r.reset ? 1 : 0)),
        [n],
      );
    }
    const result = await session.run(feeds);
    // Each lane keeps a view of its slice of the returned state: the next run reads it from there.
    const stateOut = result[FUSED_IO.stateOut].data as Float32Array;
    const pastOut = past ? (result[FUSED_IO.pastOut].data as Float32Array) : null;
    runs.forEach((r, i) => {
      this.states.set(r.lane, {
        state: stateOut.subarray(i * stateSize, (i + 1) * stateSize),
        past: pastOut?.subarray(i * pastSize, (i + 1) * pastSize),
      });
    });
    return result[FUSED_IO.out].data as Uint8Array;
  }

  dropLane(lane: number): void {
    this.states.delete(lane);
    this.singleStates.delete(lane);
  }

  async release(): Promise<void> {
    const all = new Set([this.session, ...this.sized.values(), ...(this.dynamic ? [this.dynamic] : [])]);
    await Promise.all([...all].map((s) => s.release()));
  }
}
