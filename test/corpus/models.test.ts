// The malformed-input corpus: models (cases.ts MODEL_CASES), each through the real `derain run`.
import { describe, test } from 'node:test';
import { MODEL_CASES } from './cases.ts';
import { Materials } from './media.ts';
import { CLI_CONCURRENCY, runCliCase } from './run-case.ts';

const m = new Materials();

describe('malformed input: models', { concurrency: CLI_CONCURRENCY }, () => {
  for (const c of MODEL_CASES) test(c.name, () => runCliCase(c, m, m.runs));
});
