// The malformed-input corpus: serve configs (cases.ts CONFIG_CASES), each through the real
// `derain serve -c`: refused at start with one line, never a service half started.
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CONFIG_CASES, type ConfigContext } from './cases.ts';
import { Materials } from './media.ts';
import { CLI_CONCURRENCY, runCliCase } from './run-case.ts';

const ctx: ConfigContext = { m: new Materials(), busyPort: 0 };
const busy = createServer();

before(async () => {
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  ctx.busyPort = (busy.address() as { port: number }).port;
});

after(() => busy.close());

describe('malformed input: configs', { concurrency: CLI_CONCURRENCY }, () => {
  for (const c of CONFIG_CASES) test(c.name, () => runCliCase({ withinMs: 30_000, ...c }, ctx, ctx.m.runs));
});
