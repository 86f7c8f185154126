// The malformed-input corpus: files (cases.ts FILE_CASES), each through the real `derain run`.
import { describe, test } from 'node:test';
import { FILE_CASES } from './cases.ts';
import { Materials } from './media.ts';
import { CLI_CONCURRENCY, runCliCase } from './run-case.ts';

const m = new Materials();

describe('malformed input: files', { concurrency: CLI_CONCURRENCY }, () => {
  for (const c of FILE_CASES) test(c.name, () => runCliCase(c, m, m.runs));
});
