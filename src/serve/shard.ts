// Camera shards: `serve --shard I/N` runs streams I, I+N, I+2N, ... of its config (by position,
// from 0), so N processes or pods given the same config serve every stream exactly once. A
// config only appended to keeps every stream on its shard.
import { UserError } from '../errors.js';
import type { ServeConfig } from './config.js';

export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m || +m[2] < 1 || +m[1] >= +m[2]) throw new UserError(`--shard ${text}: expected I/N with 0 <= I < N, for example 0/2`);
  return { index: +m[1], count: +m[2] };
}

export function shardConfig(config: ServeConfig, shard: Shard): ServeConfig {
  const streams = config.streams.filter((_, i) => i % shard.count === shard.index);
  return { ...config, origin: `${config.origin} (shard ${shard.index}/${shard.count})`, streams };
}
