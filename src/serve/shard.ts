// Camera shards: `serve --shard I/N` runs the streams of its config that hash to shard I, so N
// processes or pods given the same config serve every stream exactly once. Rendezvous
// (highest-random-weight) hashing of the stream id: each stream goes to the shard whose weight
// for it is highest. A stream's shard depends on its id and N alone, not on its place in the
// file or on the other streams, so editing the config moves no other camera; and going from N to
// N+1 shards moves only the streams the new shard now wins (about 1/(N+1) of them), where i % N
// would move nearly all. Every stream has a highest weight, so none is left without a shard.
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import type { ServeConfig } from './config.js';
import type { ShardInfo } from '../protocol/api.js';

export type Shard = ShardInfo;

/**
 * The weight of shard `index` for stream `id`. Never change it: every deployed camera would move
 * to another shard on upgrade (test/serve/shard.test.ts pins it).
 */
export function shardWeight(id: string, index: number): bigint {
  return createHash('sha256').update(`${id}\0${index}`).digest().readBigUInt64BE(0);
}

/** The shard (0..count-1) that serves stream `id`. */
export function shardOf(id: string, count: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`shard count ${count}: expected a positive integer`);
  let best = 0;
  let bestWeight = shardWeight(id, 0);
  for (let i = 1; i < count; i++) {
    const w = shardWeight(id, i);
    if (w > bestWeight) [best, bestWeight] = [i, w];
  }
  return best;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m || +m[2] < 1 || +m[1] >= +m[2]) throw new UserError(`--shard ${text}: expected I/N with 0 <= I < N, for example 0/2`);
  return { index: +m[1], count: +m[2] };
}

/**
 * `--shard-from-hostname N`: the index is the ordinal a StatefulSet puts at the end of each pod's
 * name (derain-0, derain-1, ...), which is also the pod's host name.
 */
export function shardFromHostname(countText: string, hostname: string): Shard {
  const flag = `--shard-from-hostname ${countText}`;
  if (!/^\d+$/.test(countText.trim()) || +countText < 1) throw new UserError(`${flag}: expected the number of shards, for example 2 (the StatefulSet's replicas)`);
  const count = +countText;
  const m = /-(\d+)$/.exec(hostname);
  if (!m) throw new UserError(`${flag}: the host name "${hostname}" does not end in -<ordinal> as a StatefulSet pod's does (derain-0); use --shard I/N elsewhere`);
  const index = Number(m[1]);
  if (index >= count)
    throw new UserError(`${flag}: this is pod ${index} of the host name "${hostname}", but there are only ${count} shards (0-${count - 1}): the count must equal the StatefulSet's replicas`);
  return { index, count };
}

export function shardConfig(config: ServeConfig, shard: Shard): ServeConfig {
  const streams = config.streams.filter((s) => shardOf(s.id, shard.count) === shard.index);
  return { ...config, origin: `${config.origin} (shard ${shard.index}/${shard.count})`, streams, shard: { index: shard.index, count: shard.count } };
}
