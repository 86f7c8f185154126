// Child process of ort-messages.test.ts: a session on a model that fails at run time (a
// Reshape to a shape taken from the input: 4 works, 5 does not), run once with each; prints
// one JSON line with the error it caught. onnxruntime's own logger writes to this process's
// stderr, which the test reads.
import ort from 'onnxruntime-node';
import { GraphBuilder, DataType } from '../../src/infer/graph-builder.ts';
import { openSession } from '../../src/infer/session.ts';

const g = new GraphBuilder();
const shape = g.input('shape', DataType.INT64, [1]);
const y = g.op('Reshape', [g.f32([1, 2, 3, 4]), shape]);
g.output(y, DataType.FLOAT, ['n']);
const { session } = await openSession(g.toBytes(13), { ep: 'cpu', threads: 1 });
const feed = (n: bigint) => ({ shape: new ort.Tensor('int64', BigInt64Array.from([n]), [1]) });
await session.run(feed(4n));
let caught: string | null = null;
try {
  await session.run(feed(5n));
} catch (err) {
  caught = (err as Error).message;
}
process.stdout.write(JSON.stringify({ caught }) + '\n');
