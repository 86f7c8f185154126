// The inference process: owns the onnxruntime session, because session.run blocks its thread
// and a native crash inside onnxruntime (an abort, a segfault, out of memory) ends the process
// it runs in. Here that is this process, which the service restarts; never the service.
import net from 'node:net';
import { EpUnavailableError } from './errors.js';
import { FrameSlots } from './frame-slots.js';
import { InferEngine } from './infer-engine.js';
import { PIPE_FD, SLOTS_FD, type FromInfer, type RunItem, type ToInfer } from './infer-protocol.js';
import { WireReader, writeMessage, type WireMessage } from './wire.js';

// Ctrl-C in a terminal reaches the whole process group: the parent decides when this process
// stops (`derain run` finishes the frames in flight first), by a close message or by going away.
process.on('SIGINT', () => {});
// A SIGTERM to the whole group (systemd stopping the service, `kill -- -PGID`) reaches this
// process together with its parent, which closes it after its last frames: it waits that long
// (were it to exit at once, the service would take it for a crash and start a new one while
// stopping). A SIGTERM for this process alone ends it after the wait, and the service restarts it.
const TERM_GRACE_MS = 3000;
process.on('SIGTERM', () => setTimeout(() => process.exit(143), TERM_GRACE_MS));

const pipe = new net.Socket({ fd: PIPE_FD, readable: true, writable: true });
const send = (msg: FromInfer, body?: Uint8Array) => writeMessage(pipe, msg, body);
const reader = new WireReader<ToInfer>();
let engine: InferEngine | null = null;
let slots: FrameSlots | null = null;
/** where a frame from a slot is read to (one run at a time, so one buffer) */
let input: Buffer | null = null;
/** where a batch's frames are gathered, one after another (grown to the largest batch) */
let batchInput: Buffer | null = null;

async function open(msg: Extract<ToInfer, { type: 'init' }>, model: Buffer): Promise<void> {
  if (msg.slots) {
    slots = new FrameSlots(SLOTS_FD, msg.slots.frameBytes, msg.slots.count);
    input = Buffer.allocUnsafeSlow(msg.slots.frameBytes);
  }
  try {
    engine = await InferEngine.open(model, msg);
  } catch (err) {
    send({ type: 'open-failed', message: (err as Error).message, epUnavailable: err instanceof EpUnavailableError });
    pipe.end(() => process.exit(0));
    return;
  }
  send({ type: 'ready', ep: engine.ep, skipped: engine.skipped, maxBatch: engine.maxBatch, batchNote: engine.batchNote });
}

/** Runs a batch: the frames from their slots (or one after another in the body), each result to its item's output slot or a body of its own. */
async function runBatch(items: RunItem[], body: Buffer): Promise<void> {
  const fb = engine!.frameBytes;
  const bytes = items.length * fb;
  if (!batchInput || batchInput.length < bytes) batchInput = Buffer.allocUnsafeSlow(bytes);
  const frames = batchInput.subarray(0, bytes);
  let inBody = 0;
  items.forEach((it, i) => {
    const at = frames.subarray(i * fb, (i + 1) * fb);
    if (it.slot !== null) slots!.readInput(it.slot, at);
    else {
      body.copy(at, 0, inBody * fb, (inBody + 1) * fb);
      inBody++;
    }
  });
  let result;
  try {
    result = await engine!.runBatch(frames, items);
  } catch (err) {
    for (const it of items) send({ type: 'run-failed', id: it.id, message: (err as Error).message });
    return;
  }
  const { out, ms, refused } = result;
  items.forEach((it, i) => {
    const frame = out.subarray(i * fb, (i + 1) * fb);
    const done = { type: 'done', id: it.id, slot: it.slot, ms, batch: items.length, ...(refused && i === 0 ? { refused } : {}) } as const;
    if (it.slot !== null) {
      slots!.writeOutput(it.slot, frame);
      send(done);
    } else send(done, frame);
  });
}

async function handle({ header: msg, body }: WireMessage<ToInfer>): Promise<void> {
  if (msg.type === 'init') return open(msg, body);
  if (!engine) return;
  if (msg.type === 'close') {
    await engine.release();
    pipe.end(() => process.exit(0));
  } else if (msg.type === 'drop-lane') {
    engine.dropLane(msg.lane);
  } else if (msg.type === 'batch') {
    await runBatch(msg.items, body);
  } else {
    try {
      // (undefined from a parent of an older build, which sends every frame in the body)
      const slot = msg.slot ?? null;
      if (slot !== null) slots!.readInput(slot, input!);
      const { out, ms } = await engine.run(slot !== null ? input! : body, msg);
      if (slot !== null) {
        slots!.writeOutput(slot, out);
        send({ type: 'done', id: msg.id, slot, ms });
      } else send({ type: 'done', id: msg.id, slot: null, ms }, out);
    } catch (err) {
      send({ type: 'run-failed', id: msg.id, message: (err as Error).message });
    }
  }
}

// One message at a time, in arrival order: each run needs the state the previous one left.
let queue = Promise.resolve();
pipe.on('data', (chunk: Buffer) => {
  for (const msg of reader.push(chunk)) queue = queue.then(() => handle(msg));
});
// The parent has gone (or closed the pipe): nothing is left to run for.
pipe.on('end', () => process.exit(0));
pipe.on('error', () => process.exit(0));
