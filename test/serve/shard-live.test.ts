// Camera shards for real: three `derain serve --shard i/3` processes on loopback, one config,
// each on its own HTTP and RTSP ports: every stream runs in exactly one of them, the one its id
// hashes to, and each says which shard it is on /api/streams and /metrics. And the flags' errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { shardOf } from '../../src/serve/shard.ts';
import { derain, tmpDir } from '../helpers.ts';
import { freePort, getJson, metric, rtpBase, serveProcess, waitFor } from './live-helpers.ts';

const IDS = ['cam-1', 'cam-2', 'cam-3', 'cam-4', 'cam-5', 'cam-6'];

test('three serve processes, --shard 0/3, 1/3, 2/3 of one config: every stream runs exactly once, on the shard its id hashes to', { timeout: 60_000 }, async () => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'serve.yaml');
  // one config for all three: the RTP range comes from each process's environment
  const streams = IDS.map((id) => `  - id: ${id}\n    url: demo://rain?size=64x48&fps=5\n`).join('');
  writeFileSync(cfg, `server:\n  port: 0\nrtsp:\n  port: 0\n  rtpPortStart: \${RTP_BASE}\n  rtpPortCount: 20\nstreams:\n${streams}`);
  const procs = [];
  for (let i = 0; i < 3; i++) {
    const rtspPort = await freePort();
    procs.push({
      rtspPort,
      svc: serveProcess(['-c', cfg, '--shard', `${i}/3`, '--port', '0', '--rtsp-port', String(rtspPort)], { DERAIN_DEFAULT_MODEL: 'builtin-tiny', RTP_BASE: String(rtpBase()) }),
    });
  }
  const bases = await Promise.all(procs.map((p) => p.svc.base()));
  assert.equal(new Set(bases).size, 3, 'three HTTP ports');

  const owner = new Map<string, number>();
  for (const [i, base] of bases.entries()) {
    const api = await getJson(`${base}/api/streams`);
    assert.equal(api.status, 200);
    assert.deepEqual(api.body.shard, { index: i, count: 3 }, `shard ${i} says which it is`);
    const ids: string[] = api.body.streams.map((s: { id: string }) => s.id);
    assert.deepEqual(
      ids,
      IDS.filter((id) => shardOf(id, 3) === i),
      `shard ${i}: the streams whose id hashes to it`,
    );
    for (const id of ids) {
      assert.ok(!owner.has(id), `${id} runs in shard ${owner.get(id)} and shard ${i}`);
      owner.set(id, i);
    }
    assert.match(procs[i].svc.stderr(), new RegExp(`derain serve: shard ${i}/3: ${ids.length} of 6 streams \\(${ids.join(', ') || 'none'}`));
    assert.match(procs[i].svc.stderr(), new RegExp(`RTSP rtsp://127\\.0\\.0\\.1:${procs[i].rtspPort}/`));
  }
  assert.deepEqual([...owner.keys()].sort(), IDS, 'every stream in some shard');

  // they run: frames through each stream, in its own shard only
  await Promise.all(
    bases.map((base, i) =>
      waitFor(
        `shard ${i}'s streams derain frames`,
        async () => {
          const text = await (await fetch(`${base}/metrics`)).text();
          return IDS.every((id) => {
            const n = metric(text, 'derain_frames_processed_total', { stream: id });
            return owner.get(id) === i ? n! > 0 : n === undefined;
          });
        },
        30_000,
        250,
      ),
    ),
  );
  for (const [i, base] of bases.entries()) {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metric(text, 'derain_shard_info', { index: String(i), count: '3' }), 1);
    for (const [id, o] of owner) if (o === i) assert.equal(metric(text, 'derain_rtsp_packets_dropped_total', { stream: id }), 0, `${id}: no TCP reader, nothing dropped`);
  }
  const codes = await Promise.all(procs.map((p) => p.svc.signal('SIGTERM')));
  for (const [i, { code }] of codes.entries()) assert.equal(code, 0, procs[i].svc.stderr());
});

test('--shard with --shard-from-hostname, a bad count, a host name without an ordinal: one line, exit 2', { timeout: 60_000 }, async () => {
  // this machine's host name decides which error it can show (test/serve/shard.test.ts has the rest);
  // on a pod 0 any count would start the service, so there is none to show
  const ordinal = /-(\d+)$/.exec(hostname())?.[1];
  const cases: [string[], RegExp][] = [
    [['--shard', '0/2', '--shard-from-hostname', '2'], /--shard and --shard-from-hostname: give one of them/],
    [['--shard-from-hostname', 'two'], /--shard-from-hostname two: expected the number of shards/],
  ];
  if (ordinal !== '0') cases.push([['--shard-from-hostname', ordinal ?? '2'], ordinal === undefined ? /does not end in -<ordinal>/ : /only \d+ shards/]);
  const results = await Promise.all(cases.map(([args]) => derain(['serve', ...args])));
  for (const [k, r] of results.entries()) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, cases[k][1]);
  }
});
