// The onnxruntime session of one derainer and the state each lane carries across frames. It runs
// wherever the session lives (the inference process; the transport bench's worker thread), so
// the per-lane feeds are written once.
import ort from 'onnxruntime-node';
import { FUSED_IO } from './fused-graph.js';
import { openSession, type EpChoice } from './session.js';

export interface EngineInit {
  ep: EpChoice;
  threads?: number;
  width: number;
  height: number;
  /** a temporal model's past-frames state shape; null for a single-frame model */
  past: number[] | null;
}

export interface EngineRun {
  /** the lane's first frame, or the first after a reset: its state restarts from this frame */
  reset: boolean;
  smooth: number;
  lane: number;
}

export class InferEngine {
  /** per lane: the smoothing state and, for a temporal model, the past frames */
  private readonly states = new Map<number, { state: ort.Tensor; past?: ort.Tensor }>();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly init: EngineInit,
    readonly ep: string,
    readonly skipped: string[],
  ) {}

  static async open(model: Uint8Array, init: EngineInit): Promise<InferEngine> {
    const opened = await openSession(model, { ep: init.ep, threads: init.threads });
    return new InferEngine(opened.session, init, opened.ep, opened.skipped);
  }

  private zeros(shape: number[]): ort.Tensor {
    return new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  }

  /** Derains one frame (uint8 HWC); the caller runs one at a time, in order: each needs the state the previous one left. */
  async run(frame: Uint8Array, r: EngineRun): Promise<{ out: Uint8Array; ms: number }> {
    const { width: W, height: H, past } = this.init;
    const t0 = performance.now();
    // On a reset the smoothing weight is 0 for this frame, so the state becomes the frame itself.
    // A temporal model's past frames restart from this one the same way (reset 1).
    const smooth = r.reset ? 0 : r.smooth;
    const prev = this.states.get(r.lane) ?? { state: this.zeros([1, 3, H, W]), past: past ? this.zeros(past) : undefined };
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
    this.states.set(r.lane, { state: result[FUSED_IO.stateOut], past: prev.past ? result[FUSED_IO.pastOut] : undefined });
    return { out: result[FUSED_IO.out].data as Uint8Array, ms };
  }

  dropLane(lane: number): void {
    this.states.delete(lane);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
