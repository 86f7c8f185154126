// The live bench's verdict on issue 19's goals: total fps with N cameras over the total with one,
// where the one-camera row is measured at both ends of the run and the reference is their mean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scalingOf, type LiveRow } from '../../bench/live.ts';

const row = (streams: number, totalFps: number, inFlight = 1) => ({ streams, totalFps, inFlight }) as LiveRow;

test('scalingOf: the reference is the mean of the one-camera rows at both ends of the run', () => {
  // the machine slowed down during the run: 10 fps for one camera at the start, 8 at the end
  const s = scalingOf([row(1, 10), row(4, 8.1), row(8, 7.2), row(1, 8), row(1, 20, 2)]);
  assert.deepEqual(s, [
    { n: 4, ratio: 0.9, goal: 0.9, met: true },
    { n: 8, ratio: 0.8, goal: 0.8, met: true },
  ]);
});

test('scalingOf: below a goal is not met; counts without a goal have none; no one-camera row, no ratios', () => {
  assert.deepEqual(scalingOf([row(1, 10), row(2, 9), row(4, 8.9)]), [
    { n: 2, ratio: 0.9, goal: null, met: null },
    { n: 4, ratio: 0.89, goal: 0.9, met: false },
  ]);
  assert.deepEqual(scalingOf([row(4, 8), row(1, 20, 2)]), []);
});
