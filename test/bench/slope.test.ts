// The soak's verdict rests on these fits: a leak of a known rate must come out as that rate
// under a garbage collector's sawtooth, and a flat sawtooth must not come out as a leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitFloor, fitLine } from '../../bench/slope.ts';

// 8 minutes sampled every 2 s (x in hours), a 20 MB sawtooth of 34 s: what the service's RSS looks like
const x = Array.from({ length: 240 }, (_, i) => (i * 2) / 3600);
const saw = (i: number) => (i % 17) * (20 / 16);
const MINUTE = 60 / 3600;

test('fitLine: an exact line gives its slope and intercept, with no error', () => {
  const fit = fitLine(
    x,
    x.map((h) => 3 * h + 7),
  );
  assert.ok(Math.abs(fit.slope - 3) < 1e-9);
  assert.ok(Math.abs(fit.intercept - 7) < 1e-9);
  assert.ok(fit.stderr < 1e-9);
});

test('fitFloor: 5 MB/h under a 20 MB sawtooth is 5 MB/h, and the flat sawtooth 0, where the plain fit is off by more than the goal', () => {
  const leaking = x.map((h, i) => 200 + 5 * h + saw(i));
  const flat = x.map((_, i) => 200 + saw(i));
  assert.ok(Math.abs(fitFloor(x, leaking, MINUTE).slope - 5) < 1e-6);
  assert.ok(Math.abs(fitFloor(x, flat, MINUTE).slope) < 1e-6);
  // why the floor is reported: the sawtooth alone tilts the plain fit past 5 MB/h
  assert.ok(fitLine(x, flat).slope > 5);
});

test('fitLine: too few points or no spread in x give NaN, not a number that looks like a verdict', () => {
  assert.ok(Number.isNaN(fitLine([], []).slope));
  assert.ok(Number.isNaN(fitLine([1], [5]).slope));
  assert.ok(Number.isNaN(fitLine([2, 2, 2], [1, 2, 3]).slope));
  assert.ok(Number.isNaN(fitLine([0, 1], [0, 1]).stderr));
  assert.ok(Number.isNaN(fitFloor([0, 1, 2], [3, 2, 1], 10).slope)); // one window: one point
  // the last window, one sample long, is not a floor
  assert.equal(fitFloor([0, 1, 2, 3, 4, 5, 6], [5, 1, 5, 5, 1, 5, 9], 3).slope, 0);
});
