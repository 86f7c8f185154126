// Camera shards: N services given one config serve every stream exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { resolveConfig } from '../../src/serve/config.ts';
import { parseShard, shardConfig } from '../../src/serve/shard.ts';

const config = resolveConfig({ streams: ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, url: 'demo://rain', model: 'builtin-tiny' })) }, 'test', process.cwd());

test('shards I/N split the streams by position, each stream in exactly one shard', () => {
  for (const n of [1, 2, 3, 5, 7]) {
    const seen = Array.from({ length: n }, (_, i) => shardConfig(config, { index: i, count: n }).streams.map((s) => s.id));
    assert.deepEqual(seen.flat().sort(), ['a', 'b', 'c', 'd', 'e'], `N=${n}`);
  }
  assert.deepEqual(
    shardConfig(config, parseShard('1/2')).streams.map((s) => s.id),
    ['b', 'd'],
  );
  assert.match(shardConfig(config, parseShard('0/2')).origin, /shard 0\/2/);
});

test('a malformed shard is one clear error', () => {
  for (const bad of ['2/2', '1', 'a/b', '0/0', '-1/2'])
    assert.throws(
      () => parseShard(bad),
      (e: unknown) => e instanceof UserError && /expected I\/N/.test(e.message),
      bad,
    );
});
