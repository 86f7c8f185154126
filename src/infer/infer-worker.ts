// The inference worker: owns the onnxruntime session, because session.run blocks its thread.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { FUSED_IO } from './fused-graph.js';
import { EpUnavailableError } from './errors.js';
import { openSession } from './session.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

/** The output's own ArrayBuffer when it holds exactly the tensor, else a copy (transfer needs a whole buffer). */
function ownBuffer(data: Uint8Array): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data.buffer;
  return data.slice().buffer;
}

async function main() {
  let opened;
  try {
    opened = await openSession(init.model, { ep: init.ep, threads: init.threads });
  } catch (err) {
    post({ type: 'open-failed', message: (err as Error).message, epUnavailable: err instanceof EpUnavailableError });
    return;
  }
  const { session } = opened;
  const { width: W, height: H } = init;
  const { past } = init;
  const zeros = (shape: number[]) => new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  /** per lane: the smoothing state and, for a temporal model, the past frames */
  const states = new Map<number, { state: ort.Tensor; past?: ort.Tensor }>();
  const stateOf = (lane: number) => states.get(lane) ?? { state: zeros([1, 3, H, W]), past: past ? zeros(past) : undefined };
  post({ type: 'ready', ep: opened.ep, skipped: opened.skipped });

  const handle = async (msg: ToWorker) => {
    if (msg.type === 'close') {
      await session.release();
      port.close();
      return;
    }
    if (msg.type === 'drop-lane') {
      states.delete(msg.lane);
      return;
    }
    try {
      const t0 = performance.now();
      // On a reset the smoothing weight is 0 for this frame, so the state becomes the frame itself.
      // A temporal model's past frames restart from this one the same way (reset 1).
      const smooth = msg.reset ? 0 : msg.smooth;
      const prev = stateOf(msg.lane);
      const feeds: Record<string, ort.Tensor> = {
        [FUSED_IO.frame]: new ort.Tensor('uint8', new Uint8Array(msg.frame), [H, W, 3]),
        [FUSED_IO.state]: prev.state,
        [FUSED_IO.smooth]: new ort.Tensor('float32', new Float32Array([smooth]), [1]),
      };
      if (prev.past) {
        feeds[FUSED_IO.past] = prev.past;
        feeds[FUSED_IO.reset] = new ort.Tensor('float32', new Float32Array([msg.reset ? 1 : 0]), [1]);
      }
      const result = await session.run(feeds);
      const ms = performance.now() - t0;
      states.set(msg.lane, { state: result[FUSED_IO.stateOut], past: prev.past ? result[FUSED_IO.pastOut] : undefined });
      const out = ownBuffer(result[FUSED_IO.out].data as Uint8Array);
      post({ type: 'done', id: msg.id, frame: msg.frame, out, ms }, [msg.frame, out]);
    } catch (err) {
      post({ type: 'run-failed', id: msg.id, frame: msg.frame, message: (err as Error).message }, [msg.frame]);
    }
  };
  // One run at a time, in arrival order: each run needs the state the previous one left.
  let queue = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    queue = queue.then(() => handle(msg));
  });
}

void main();
