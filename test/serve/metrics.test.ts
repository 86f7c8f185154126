// The series of /metrics read at scrape time: packets the embedded RTSP server dropped for TCP
// readers too far behind (a count the server keeps), and the shard as an info metric.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServeMetrics, type GaugeSource } from '../../src/serve/metrics.ts';
import { metric } from './live-helpers.ts';

function source(drops: Record<string, number> | null): GaugeSource {
  return {
    streamIds: () => ['a', 'b'],
    ringDepth: () => 0,
    sinkClients: () => ({}),
    rtspDroppedPackets: (id) => (drops ? (drops[id] ?? 0) : null),
  };
}

test("derain_rtsp_packets_dropped_total{stream}: the embedded server's count at each scrape, a counter", async () => {
  const drops = { a: 0, b: 7 };
  const m = new ServeMetrics(source(drops));
  let text = await m.registry.metrics();
  assert.match(text, /^# TYPE derain_rtsp_packets_dropped_total counter$/m);
  assert.equal(metric(text, 'derain_rtsp_packets_dropped_total', { stream: 'a' }), 0);
  assert.equal(metric(text, 'derain_rtsp_packets_dropped_total', { stream: 'b' }), 7);
  drops.b = 19;
  text = await m.registry.metrics();
  assert.equal(metric(text, 'derain_rtsp_packets_dropped_total', { stream: 'b' }), 19, 'read again, not added up');
  assert.equal(metric(text, 'derain_shard_info'), undefined, 'not sharded: no shard series');
});

test('without an embedded RTSP server: no dropped-packet series; sharded: derain_shard_info{index,count} 1', async () => {
  const m = new ServeMetrics(source(null), { index: 2, count: 3 });
  const text = await m.registry.metrics();
  assert.equal(metric(text, 'derain_rtsp_packets_dropped_total'), undefined);
  assert.match(text, /^derain_shard_info\{index="2",count="3"\} 1$/m);
});
