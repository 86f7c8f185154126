// README.md "Malformed input" lists the corpus: every case in cases.ts has its row there, and
// every row is a case, so the table cannot drift from what npm test runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers.ts';
import * as cases from './cases.ts';

test('the README table of malformed inputs names exactly the corpus cases', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Malformed input\n');
  assert.ok(start >= 0, 'README.md has a "Malformed input" section');
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| case |'))
    .map((l) => l.slice(2, l.indexOf(' | ')));
  const names = Object.values(cases)
    .filter(Array.isArray)
    .flatMap((list) => (list as { name: string }[]).map((c) => c.name));
  assert.ok(names.length >= 40, `${names.length} cases`);
  assert.equal(new Set(names).size, names.length, 'case names are unique');
  assert.deepEqual(
    rows.filter((r) => !names.includes(r)),
    [],
    'rows that are no case',
  );
  assert.deepEqual(
    names.filter((n) => !rows.includes(n)),
    [],
    'cases without a row',
  );
});
