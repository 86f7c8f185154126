// The transport bench's IPC child: the engine in a child process that talks over Node's IPC
// channel with 'advanced' serialization (typed arrays are cloned into the message).
import { InferEngine, type EngineInit } from '../../src/infer/infer-engine.ts';

type Msg = ({ type: 'init'; model: Uint8Array } & EngineInit) | { type: 'run'; id: number; frame: Uint8Array; lane: number; smooth: number; reset: boolean } | { type: 'close' };

let engine: InferEngine | null = null;
let queue = Promise.resolve();
process.on('message', (msg: Msg) => {
  queue = queue.then(async () => {
    if (msg.type === 'init') {
      engine = await InferEngine.open(msg.model, msg);
      process.send!({ type: 'ready' });
    } else if (msg.type === 'close') {
      await engine!.release();
      process.disconnect();
    } else {
      const { out, ms } = await engine!.run(msg.frame, msg);
      process.send!({ type: 'done', id: msg.id, out, ms });
    }
  });
});
