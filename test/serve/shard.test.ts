// Camera shards: N services given one config serve every stream exactly once, by a hash of the
// stream's id (rendezvous), so adding a shard moves only the streams the new shard takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { parseShard, shardConfig, shardFromHostname, shardOf, shardWeight } from '../../src/serve/shard.ts';
import { getJson, metric } from './live-helpers.ts';

const IDS = Array.from({ length: 200 }, (_, i) => `cam-${i}`).concat(['demo', 'traffic', 'gate-north', 'gate-south', 'A', 'z_9']);
const config = resolveConfig({ streams: IDS.map((id) => ({ id, url: 'demo://rain', model: 'builtin-tiny' })) }, 'test', process.cwd());

test('every stream is in exactly one shard, for 1 to 8 shards, and the shards share them out', () => {
  for (let n = 1; n <= 8; n++) {
    const shards = Array.from({ length: n }, (_, i) => shardConfig(config, { index: i, count: n }).streams.map((s) => s.id));
    assert.deepEqual(shards.flat().sort(), [...IDS].sort(), `N=${n}: each id once`);
    for (const [i, ids] of shards.entries()) {
      for (const id of ids) assert.equal(shardOf(id, n), i);
      // 206 ids: a fair share is 206/n; a hash that ignored some shard would show here
      assert.ok(ids.length > (0.5 * IDS.length) / n, `N=${n}: shard ${i} has ${ids.length} streams`);
    }
  }
  assert.deepEqual(
    IDS.map((id) => shardOf(id, 1)),
    IDS.map(() => 0),
  );
});

test('from N to N+1 shards, only the streams that the new shard takes move', () => {
  for (let n = 1; n < 8; n++) {
    let moved = 0;
    for (const id of IDS) {
      const before = shardOf(id, n);
      const after = shardOf(id, n + 1);
      if (after !== before) {
        assert.equal(after, n, `${id}: moved from ${before} to ${after}, not to the new shard ${n}`);
        moved++;
      }
    }
    // about 1/(n+1) of them
    const share = moved / IDS.length;
    assert.ok(share > 0.5 / (n + 1) && share < 1.6 / (n + 1), `N=${n}->${n + 1}: ${moved} of ${IDS.length} moved`);
  }
});

test('the hash is fixed: a change would move deployed cameras on upgrade', () => {
  assert.equal(shardWeight('cam-1', 0).toString(16), '572d877be4bfda38');
  assert.equal(shardWeight('demo', 1).toString(16), 'af7ab74a545c23ca');
  const ids = ['demo', 'traffic', 'gate-north', 'gate-south', 'cam-1', 'cam-2', 'cam-3', 'cam-4'];
  const table = (n: number) => ids.map((id) => shardOf(id, n));
  assert.deepEqual(table(2), [1, 1, 1, 0, 0, 1, 0, 0]);
  assert.deepEqual(table(3), [1, 1, 1, 0, 2, 2, 0, 2]);
  assert.deepEqual(table(8), [5, 4, 1, 6, 4, 2, 0, 4]);
  // the order of the config and the other streams play no part
  const reversed = resolveConfig({ streams: [...IDS].reverse().map((id) => ({ id, url: 'demo://rain', model: 'builtin-tiny' })) }, 'test', process.cwd());
  assert.deepEqual(
    shardConfig(reversed, { index: 1, count: 3 })
      .streams.map((s) => s.id)
      .sort(),
    shardConfig(config, { index: 1, count: 3 })
      .streams.map((s) => s.id)
      .sort(),
  );
});

test('the sharded config says which shard it is', () => {
  const c = shardConfig(config, parseShard('1/2'));
  assert.deepEqual(c.shard, { index: 1, count: 2 });
  assert.match(c.origin, /shard 1\/2/);
  assert.equal(config.shard, undefined);
});

test('a malformed shard is one clear error', () => {
  for (const bad of ['2/2', '1', 'a/b', '0/0', '-1/2'])
    assert.throws(
      () => parseShard(bad),
      (e: unknown) => e instanceof UserError && /expected I\/N/.test(e.message),
      bad,
    );
});

test('--shard-from-hostname N: the StatefulSet ordinal at the end of the host name, below N', () => {
  assert.deepEqual(shardFromHostname('3', 'derain-0'), { index: 0, count: 3 });
  assert.deepEqual(shardFromHostname('3', 'derain-stream-2'), { index: 2, count: 3 });
  assert.deepEqual(shardFromHostname('12', 'derain-11'), { index: 11, count: 12 });
  const fails = (count: string, host: string, re: RegExp) =>
    assert.throws(
      () => shardFromHostname(count, host),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && re.test(e.message),
      `${count} ${host}`,
    );
  fails('2', 'derain-2', /pod 2 .* only 2 shards \(0-1\): the count must equal the StatefulSet's replicas/);
  fails('2', 'laptop', /host name "laptop" does not end in -<ordinal>/);
  fails('2', 'derain-', /does not end in -<ordinal>/);
  for (const bad of ['0', 'x', '-1', '1/2', '']) fails(bad, 'derain-0', /expected the number of shards/);
});

test('a shard with no streams starts, serves nothing, is healthy, and says which shard it is', async () => {
  const one = resolveConfig({ server: { port: 0 }, rtsp: { enabled: false }, streams: [{ id: 'demo', url: 'demo://rain?size=64x48&fps=5', model: 'builtin-tiny' }] }, 'test', process.cwd());
  const empty = shardConfig(one, { index: 1 - shardOf('demo', 2), count: 2 });
  assert.equal(empty.streams.length, 0);
  const svc = await startServe(empty, { log: () => {} });
  try {
    const api = await getJson(`${svc.httpUrl}/api/streams`);
    assert.deepEqual(api.body, { shard: empty.shard, streams: [] });
    assert.equal((await getJson(`${svc.httpUrl}/healthz`)).status, 200);
    assert.equal((await getJson(`${svc.httpUrl}/livez`)).body.streams, 0);
    const text = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    assert.equal(metric(text, 'derain_shard_info', { index: String(empty.shard!.index), count: '2' }), 1);
  } finally {
    await svc.close();
  }
});
