// A WebSocket client that stops reading costs the server a bounded amount of memory: its
// frames are dropped (and counted), and the other clients go on at full rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { WsHub } from '../../src/egress/ws/ws-hub.ts';
import { tmpDir } from '../helpers.ts';
import { metric, serveProcess, sleep, waitFor } from './live-helpers.ts';

test('the hub: a paused client holds at most its queue; drops are counted; a reading client gets the frames', { timeout: 60_000 }, async (t) => {
  const W = 640;
  const H = 546; // about 1 MB per rgb24 frame
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const drops = { slow_client: 0, encoder_behind: 0 };
  const hub = new WsHub({ stream: 's', width: W, height: H, fps: 25, maxQueue: 2, onDrop: (r) => drops[r]++ });
  const serverSide: WebSocket[] = [];
  wss.on('connection', (ws) => {
    serverSide.push(ws);
    hub.add(ws, 'rgb24');
  });
  const slow = new WebSocket(`ws://127.0.0.1:${port}`);
  const fast = new WebSocket(`ws://127.0.0.1:${port}`);
  let fastFrames = 0;
  fast.on('message', (_d, binary) => binary && fastFrames++);
  await Promise.all([slow, fast].map((ws) => new Promise((r) => ws.once('open', r))));
  await waitFor('both clients registered', () => hub.size === 2);
  slow.pause(); // reads nothing more: the kernel buffers fill, then the server's queue

  const frame = { data: Buffer.alloc(W * H * 3, 7), width: W, height: H, pts: 0, seq: 0, capturedAt: Date.now() };
  const rss0 = process.memoryUsage().rss;
  let maxBuffered = 0;
  const N = 300; // 300 MB offered to each client
  for (let i = 0; i < N; i++) {
    hub.write({ ...frame, seq: i });
    maxBuffered = Math.max(maxBuffered, ...serverSide.map((ws) => ws.bufferedAmount));
    await sleep(8);
  }
  const rssGrowth = process.memoryUsage().rss - rss0;
  await waitFor('the reading client to catch up', () => fastFrames + drops.slow_client >= 2 * N - 40, 10_000);
  t.diagnostic(`max queued ${(maxBuffered / 1e6).toFixed(1)} MB, RSS +${(rssGrowth / 1e6).toFixed(0)} MB, dropped ${drops.slow_client}, reading client ${fastFrames}/${N}`);
  assert.ok(maxBuffered <= 3 * W * H * 3 + 1024, `a client's queue stays within its bound: ${(maxBuffered / 1e6).toFixed(1)} MB`);
  assert.ok(rssGrowth < 100e6, `memory stays bounded: +${(rssGrowth / 1e6).toFixed(0)} MB for ${N} MB offered`);
  assert.ok(drops.slow_client > N - 40, `the paused client's frames are dropped and counted: ${drops.slow_client}`);
  assert.ok(fastFrames > N * 0.8, `the reading client is not held up: ${fastFrames}/${N}`);
  hub.close();
  slow.terminate();
  fast.terminate();
  wss.close();
  server.close();
});

test('serve: a client that stops reading for 12 s leaves the server RSS bounded, its drops counted', { timeout: 90_000 }, async (t) => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'serve.yaml');
  writeFileSync(cfg, 'server: { port: 0 }\nrtsp: { enabled: false }\nstreams:\n  - { id: demo, url: "demo://rain", model: builtin-tiny }\n');
  const svc = serveProcess(['-c', cfg]);
  const base = await svc.base();
  await waitFor('frames', async () => metric(await (await fetch(`${base}/metrics`)).text(), 'derain_frames_processed_total', { stream: 'demo' })! > 5, 30_000);
  const scrape = async () => {
    const t = await (await fetch(`${base}/metrics`)).text();
    return {
      rss: metric(t, 'process_resident_memory_bytes')!,
      processed: metric(t, 'derain_frames_processed_total', { stream: 'demo' })!,
      slow: metric(t, 'derain_frames_dropped_total', { stream: 'demo', reason: 'slow_client' })!,
    };
  };
  const slow = new WebSocket(`${base.replace('http', 'ws')}/ws/demo?format=rgb24`);
  await new Promise((r) => slow.once('open', r));
  slow.pause();
  await sleep(2000); // the kernel's socket buffers fill first
  const start = await scrape();
  let maxRss = start.rss;
  for (let i = 0; i < 12; i++) {
    await sleep(1000);
    maxRss = Math.max(maxRss, (await scrape()).rss);
  }
  const end = await scrape();
  const offeredMB = ((end.processed - start.processed) * 640 * 360 * 3) / 1e6;
  const growthMB = (maxRss - start.rss) / 1e6;
  t.diagnostic(`offered ${offeredMB.toFixed(0)} MB in ${end.processed - start.processed} frames; RSS +${growthMB.toFixed(0)} MB; slow_client drops ${end.slow - start.slow}`);
  assert.ok(offeredMB > 50, `enough frames offered to the stalled client to matter: ${offeredMB.toFixed(0)} MB`);
  assert.ok(growthMB < 50, `server RSS bounded: +${growthMB.toFixed(0)} MB while ${offeredMB.toFixed(0)} MB were offered to a client that read nothing`);
  assert.ok(
    end.slow - start.slow >= end.processed - start.processed - 3,
    `every frame the client could not take was counted as slow_client: ${end.slow - start.slow} of ${end.processed - start.processed}`,
  );
  slow.terminate();
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0);
});
