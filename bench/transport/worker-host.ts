// The transport bench's worker thread: the engine in a worker_threads worker, frames as
// transferred ArrayBuffers both ways, as inference ran before it moved to a child process.
import { parentPort, workerData } from 'node:worker_threads';
import { InferEngine, type EngineInit } from '../../src/infer/infer-engine.ts';

interface Init extends EngineInit {
  model: Uint8Array;
}
interface Run {
  id: number;
  frame: ArrayBuffer;
  lane: number;
  smooth: number;
  reset: boolean;
}

const init = workerData as Init;
const port = parentPort!;
const engine = await InferEngine.open(init.model, init);
port.postMessage({ type: 'ready' });

/** The output's own ArrayBuffer when it holds exactly the tensor, else a copy (transfer needs a whole buffer). */
function ownBuffer(data: Uint8Array): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data.buffer;
  return data.slice().buffer;
}

let queue = Promise.resolve();
port.on('message', (msg: Run | 'close') => {
  queue = queue.then(async () => {
    if (msg === 'close') {
      await engine.release();
      port.close();
      return;
    }
    const { out, ms } = await engine.run(new Uint8Array(msg.frame), msg);
    const buf = ownBuffer(out);
    port.postMessage({ type: 'done', id: msg.id, frame: msg.frame, out: buf, ms }, [msg.frame, buf]);
  });
});
