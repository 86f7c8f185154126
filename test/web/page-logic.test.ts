// The dashboard's pure parts, run in Node: the frame header reader, source states, number
// formats and the rolling figures behind fps and latency.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFrameHeader } from '../../src/protocol/frame-header.ts';
import { DOWN_AFTER_MS, formatAgo, formatNumber, inferenceLabel, sourceLabel, totalDrops } from '../../src/web/state.ts';
import { Rolling } from '../../src/web/rolling.ts';
import { encodeHeader } from '../../src/egress/ws/frame-header.ts';

/** The dashboard reads the header from the message's bytes. */
const parseFrameHeader = (buf: ArrayBuffer) => readFrameHeader(new Uint8Array(buf));

/** A header as the server writes it (src/egress/ws/frame-header.ts), built by hand here. */
function message(fields: { format: number; flags: number; seq: bigint; pts: number; capturedAt: number; width: number; height: number; headerBytes?: number }, payload: number[]): ArrayBuffer {
  const hb = fields.headerBytes ?? 40;
  const buf = new ArrayBuffer(hb + payload.length);
  const v = new DataView(buf);
  [0x44, 0x52, 0x4e, 0x46].forEach((b, i) => v.setUint8(i, b));
  v.setUint8(4, 1);
  v.setUint8(5, fields.format);
  v.setUint8(6, fields.flags);
  v.setUint8(7, hb);
  v.setBigUint64(8, fields.seq, true);
  v.setFloat64(16, fields.pts, true);
  v.setFloat64(24, fields.capturedAt, true);
  v.setUint32(32, fields.width, true);
  v.setUint32(36, fields.height, true);
  new Uint8Array(buf, hb).set(payload);
  return buf;
}

test('frame header: every field, the stale flag, and a longer header from a later version', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const h = parseFrameHeader(message({ format: 2, flags: 1, seq: 123456789012n, pts: 12.48, capturedAt: at, width: 1920, height: 1080 }, [0xff, 0xd8]));
  assert.deepEqual(h, { format: 'jpeg', stale: true, seq: 123456789012, pts: 12.48, capturedAt: at, width: 1920, height: 1080, headerBytes: 40 });
  const later = message({ format: 1, flags: 0, seq: 7n, pts: 0, capturedAt: at, width: 4, height: 2, headerBytes: 48 }, [1, 2, 3]);
  const h2 = parseFrameHeader(later);
  assert.equal(h2.format, 'rgb24');
  assert.equal(h2.stale, false);
  assert.equal(h2.headerBytes, 48);
  assert.deepEqual([...new Uint8Array(later, h2.headerBytes)], [1, 2, 3]);
});

test('frame header: the page reads what the server writes', () => {
  const fields = { format: 'jpeg' as const, stale: true, seq: 987654, pts: 39.52, capturedAt: 1_790_000_000_123.5, width: 640, height: 360 };
  const msg = Buffer.concat([encodeHeader(fields), Buffer.from([0xff, 0xd8, 0xff])]);
  const buf = msg.buffer.slice(msg.byteOffset, msg.byteOffset + msg.length);
  const h = parseFrameHeader(buf);
  assert.deepEqual(h, { ...fields, headerBytes: 40 });
  assert.deepEqual([...new Uint8Array(buf, h.headerBytes)], [0xff, 0xd8, 0xff]);
});

test('frame header: wrong magic, unknown format and short messages are refused', () => {
  const good = message({ format: 2, flags: 0, seq: 1n, pts: 0, capturedAt: 0, width: 1, height: 1 }, []);
  const badMagic = good.slice(0);
  new DataView(badMagic).setUint8(0, 0x58);
  assert.throws(() => parseFrameHeader(badMagic), /bad magic/);
  const badFormat = good.slice(0);
  new DataView(badFormat).setUint8(5, 9);
  assert.throws(() => parseFrameHeader(badFormat), /unknown frame format 9/);
  assert.throws(() => parseFrameHeader(good.slice(0, 20)), /too short/);
});

test('source state: live, connecting, reconnecting, and down after a long silence or a failure', () => {
  assert.equal(sourceLabel('live', 40), 'live');
  assert.equal(sourceLabel('live', DOWN_AFTER_MS * 2), 'live');
  assert.equal(sourceLabel('connecting', null), 'connecting');
  assert.equal(sourceLabel('connecting', 2000), 'connecting');
  assert.equal(sourceLabel('connecting', DOWN_AFTER_MS + 1), 'down');
  assert.equal(sourceLabel('stale', 2000), 'reconnecting');
  assert.equal(sourceLabel('stale', DOWN_AFTER_MS + 1), 'down');
  assert.equal(sourceLabel('failed', 10), 'down');
  assert.equal(sourceLabel('stopped', null), 'down');
});

test('numbers keep their width: fixed decimals, dashes for none, coarse ages', () => {
  assert.equal(formatNumber(12.345, 1), '12.3');
  assert.equal(formatNumber(null, 1), '–');
  assert.equal(formatNumber(Number.NaN), '–');
  assert.equal(formatAgo(null), '–');
  assert.equal(formatAgo(-5), '0.0 s');
  assert.equal(formatAgo(420), '0.4 s');
  assert.equal(formatAgo(12_900), '12 s');
  assert.equal(formatAgo(3 * 60_000 + 5), '3 min');
  assert.equal(formatAgo(2 * 3_600_000), '2 h');
  assert.equal(totalDrops({ behind: 3, slow_client: 2, encoder_behind: 1 }), 6);
});

test('rolling figures: rate and median over the window, old samples forgotten', () => {
  const r = new Rolling(2000);
  assert.equal(r.median(0), null);
  assert.equal(r.rate(0), 0);
  for (let i = 0; i < 25; i++) r.add(i < 20 ? 50 : 500, 1000 + i * 80);
  assert.equal(r.rate(3000), 12.5);
  assert.equal(r.median(3000), 50);
  assert.equal(r.rate(10_000), 0);
  assert.equal(r.median(10_000), null);
  r.add(10, 20_000);
  r.add(30, 20_001);
  assert.equal(r.median(20_001), 20);
});

test('the inference line: the pid while it runs, the state while it restarts, the restarts once there were any', () => {
  assert.equal(inferenceLabel(null), 'inference –');
  assert.equal(inferenceLabel({ pid: 4242, state: 'running', restarts: 0, lastExit: null }), 'inference pid 4242');
  const died = 'inference process 4242 died (signal SIGKILL)';
  assert.equal(inferenceLabel({ pid: null, state: 'restarting', restarts: 1, lastExit: died }), 'inference restarting · 1 restart');
  assert.equal(inferenceLabel({ pid: 4250, state: 'running', restarts: 2, lastExit: died }), 'inference pid 4250 · 2 restarts');
});

test('the sign-in is told when the server blocks this address for wrong tokens (429), and for how long', async () => {
  const { fetchStreams, TooManyTries, Unauthorized } = await import('../../src/web/api.ts');
  const real = globalThis.fetch;
  try {
    globalThis.fetch = async () => new Response('{"error":"too many wrong tokens"}', { status: 429, headers: { 'retry-after': '42' } });
    await assert.rejects(fetchStreams('guess'), (e: unknown) => e instanceof TooManyTries && e.retryAfterS === 42 && /try again in 42 s/.test(e.message));
    globalThis.fetch = async () => new Response('{}', { status: 401 });
    await assert.rejects(fetchStreams('guess'), (e: unknown) => e instanceof Unauthorized);
  } finally {
    globalThis.fetch = real;
  }
});
