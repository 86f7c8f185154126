import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameRing } from '../../src/ingest/frame-ring.ts';

const meta = (seq: number) => ({ width: 2, height: 1, seq, pts: seq, capturedAt: 0 });

async function produce(ring: FrameRing, n: number) {
  for (let i = 0; i < n; i++) {
    const slot = await ring.acquire();
    slot.fill(i);
    ring.commit(slot, meta(i));
  }
  ring.end();
}

test('block: a slow consumer gets every frame once, in order, and nothing is dropped', async () => {
  const ring = new FrameRing(3, 6, 'block');
  void produce(ring, 40);
  const seen: number[] = [];
  for await (const f of ring.frames()) {
    assert.equal(f.data[0], f.seq, 'slot content belongs to its frame');
    seen.push(f.seq);
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 40 }, (_, i) => i),
  );
  assert.equal(ring.dropped, 0);
});

test('drop-oldest: the producer never waits, and every dropped frame is counted', async () => {
  const dropped: number[] = [];
  const ring = new FrameRing(3, 6, 'drop-oldest', (f) => dropped.push(f.seq));
  await produce(ring, 20); // nobody consumes while 20 frames arrive
  const seen: number[] = [];
  for await (const f of ring.frames()) seen.push(f.seq);
  assert.deepEqual(seen, [17, 18, 19], 'the newest frames survive');
  assert.equal(ring.dropped, 17);
  assert.equal(seen.length + ring.dropped, 20, 'frames in = frames out + drops');
  assert.deepEqual(
    dropped,
    Array.from({ length: 17 }, (_, i) => i),
  );
});

test('an error ends the stream after the queued frames', async () => {
  const ring = new FrameRing(2, 6, 'block');
  const slot = await ring.acquire();
  ring.commit(slot, meta(0));
  ring.end(new Error('decoder died'));
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const f of ring.frames()) seen.push(f.seq);
  }, /decoder died/);
  assert.deepEqual(seen, [0]);
});
