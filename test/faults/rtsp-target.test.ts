// The RTSP server a stream publishes to (an external one, as MediaMTX would be) goes away and
// comes back on the same address, twice: the stream and its WebSocket output go on untouched,
// the RTSP output says it is retrying (API, metrics, log), then publishes again by itself, and
// readers of the server get the derained stream again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { EmbeddedRtspServer } from '../../src/egress/rtsp/embedded-server.ts';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { tmpDir } from '../helpers.ts';
import { freePort, getJson, metric, readRtsp, rtpBase, sleep, waitFor } from '../serve/live-helpers.ts';
import { watchFrames } from './fault-helpers.ts';

const FPS = 10;
const DOWN_MS = 3000;

test('the external RTSP server goes away and comes back, twice: the stream goes on, the push reconnects, its state and restarts are reported', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir();
  const ports = { port: await freePort(), publishPort: await freePort(), rtpPortStart: rtpBase(), rtpPortCount: 20 };
  const startTarget = async () => {
    const s = new EmbeddedRtspServer({ host: '127.0.0.1', ...ports });
    await s.start();
    return s;
  };
  let target: EmbeddedRtspServer | null = await startTarget();
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { publishUrl: `rtsp://127.0.0.1:${ports.publishPort}`, publishTransport: 'udp' },
      streams: [{ id: 'yard', url: `demo://rain?size=192x108&fps=${FPS}`, model: 'builtin-tiny' }],
    },
    'test',
    dir,
  );
  const logs: { at: number; msg: string }[] = [];
  const svc = await startServe(config, { log: (msg) => logs.push({ at: Date.now(), msg }) });
  after(async () => {
    await svc.close();
    await target?.close();
  });
  const base = svc.httpUrl;
  const api = async () => (await getJson(`${base}/api/streams/yard`)).body;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();
  const outputUp = async () => metric(await scrape(), 'derain_output_up', { stream: 'yard', output: 'rtsp' });

  await waitFor('the stream to publish', () => target!.published('yard'), 30_000);
  const first = await api();
  assert.deepEqual(first.outputState.rtsp, { state: 'running', restarts: 0, lastError: null, retryAt: null });
  assert.equal(first.outputState.record, null, 'no recording configured');
  assert.equal(await outputUp(), 1);
  assert.equal(metric(await scrape(), 'derain_output_restarts_total', { stream: 'yard', output: 'rtsp' }), 0);
  assert.deepEqual(await readRtsp(target.readUrl('yard'), 10, path.join(dir, 'before.mp4')), { frames: 10, width: 192, height: 108 });

  const ws = await watchFrames(`${base.replace('http', 'ws')}/ws/yard?format=rgb24`);
  t.after(() => ws.close());
  const from = ws.arrivals.length;
  const backMs: number[] = [];
  let restarts = 0;
  for (let round = 1; round <= 2; round++) {
    const at = Date.now();
    await target.close();
    target = null;
    const down = await waitFor(`the RTSP output to say it is retrying (round ${round})`, async () => {
      const s = await api();
      return s.outputState.rtsp.state === 'retrying' ? s : null;
    });
    assert.ok(Date.now() - at < 5000, `noticed after ${Date.now() - at} ms`);
    assert.ok(down.outputState.rtsp.lastError, 'says why');
    assert.ok(Date.parse(down.outputState.rtsp.retryAt) > at, 'says when it tries next');
    assert.equal(down.state, 'live', 'the stream itself is live');
    assert.equal(await outputUp(), 0);
    assert.equal((await getJson(`${base}/healthz`)).status, 200, 'a stream whose output is retrying is still served');
    await sleep(DOWN_MS);
    const mark = ws.arrivals.length;
    target = await startTarget();
    const restoredAt = Date.now();
    await waitFor(`the stream published again (round ${round})`, () => target!.published('yard'), 20_000, 50);
    backMs.push(Date.now() - restoredAt);
    const up = await waitFor(`the RTSP output running again (round ${round})`, async () => {
      const s = await api();
      return s.outputState.rtsp.state === 'running' ? s : null;
    });
    assert.ok(up.outputState.rtsp.restarts > restarts, 'restarts counted');
    restarts = up.outputState.rtsp.restarts;
    assert.equal(up.outputState.rtsp.retryAt, null);
    assert.deepEqual(await readRtsp(target.readUrl('yard'), 10, path.join(dir, `after-${round}.mp4`)), { frames: 10, width: 192, height: 108 });
    assert.ok(ws.fresh(mark).length > 0);
  }

  const gap = ws.maxGap(from);
  const stale = ws.arrivals.slice(from).filter((a) => a.stale).length;
  t.diagnostic(
    `published again ${backMs.join(' and ')} ms after the server came back (down ${DOWN_MS} ms each time); ${restarts} encoder starts after failures; WebSocket: max gap ${gap.ms} ms, ${stale} stale of ${ws.arrivals.length - from}`,
  );
  // the server's outages are nothing to the stream: new frames throughout, at its own rate
  assert.equal(stale, 0, 'no repeated frames: the stream never stopped');
  assert.ok(gap.ms <= ws.gapBound(1000 / FPS), `the WebSocket output stopped for ${gap.ms} ms`);
  // back-off: 0.5 s doubling to 10 s, jittered; a 3 s outage is retried within about 4 s of its end
  assert.ok(
    backMs.every((ms) => ms < 10_000),
    `published again after ${backMs.join(', ')} ms`,
  );
  const text = await scrape();
  assert.equal(metric(text, 'derain_output_restarts_total', { stream: 'yard', output: 'rtsp' }), restarts, 'the metric counts what the API says');
  assert.equal(metric(text, 'derain_output_up', { stream: 'yard', output: 'rtsp' }), 1);
  const lines = logs.map((l) => l.msg);

  assert.ok(
    lines.some((l) => /^RTSP output rtsp:\/\/127\.0\.0\.1:\d+\/yard stopped \(.+\); restarting in \d+\.\d s$/.test(l)),
    lines.join('\n'),
  );
  assert.equal(lines.filter((l) => /^RTSP output .* works again \(restart \d+\)$/.test(l)).length, 2, 'one line for each recovery');
});
