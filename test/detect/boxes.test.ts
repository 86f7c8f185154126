// Boxes in JavaScript: IoU, the candidates of a frame from the graph's outputs, NMS, and matching
// against the clean frame's detections (the counts behind recall and precision).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SetTally, candidates, iou, matchFrame, nms, type Box, type Detection } from '../../src/detect/index.ts';

const det = (box: Box, score: number, classId = 2, label = 'car'): Detection => ({ box, score, classId, label });

test('iou: identical 1, disjoint 0, half overlap 1/3, touching edges 0', () => {
  assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(iou([0, 0, 10, 10], [20, 20, 30, 30]), 0);
  assert.ok(Math.abs(iou([0, 0, 10, 10], [5, 0, 15, 10]) - 1 / 3) < 1e-12);
  assert.equal(iou([0, 0, 10, 10], [10, 0, 20, 10]), 0);
});

test('candidates: one per anchor, its best class among the chosen, at or above the score', () => {
  // 3 anchors, 4 classes; chosen: classes 1 and 3
  const boxes = new Float32Array([0, 0, 10, 10, 5, 5, 20, 20, 1, 1, 1, 2]);
  const scores = new Float32Array([
    0.9,
    0.2,
    0.1,
    0.4, // anchor 0: best overall is class 0 (not chosen); best chosen is 3 at 0.4
    0.1,
    0.3,
    0.1,
    0.29, // anchor 1: class 1 at exactly the threshold
    0.1,
    0.8,
    0.1,
    0.1, // anchor 2: a box of no area
  ]);
  const got = candidates(boxes, scores, 4, [1, 3], 0.3, ['a', 'b', 'c', 'd']);
  assert.deepEqual(
    got.map((d) => [d.classId, d.label, Number(d.score.toFixed(2)), d.box]),
    [
      [3, 'd', 0.4, [0, 0, 10, 10]],
      [1, 'b', 0.3, [5, 5, 20, 20]],
    ],
  );
});

test('nms: class-agnostic keeps one box for a vehicle called car and truck; per class keeps both', () => {
  const car = det([0, 0, 100, 50], 0.8, 2, 'car');
  const truck = det([2, 0, 100, 52], 0.6, 7, 'truck');
  const other = det([200, 0, 260, 40], 0.5);
  const near = det([30, 0, 130, 50], 0.7); // IoU with car 0.54
  assert.deepEqual(nms([truck, other, car], 0.45), [car, other]);
  assert.deepEqual(nms([truck, other, car], 0.45, false), [car, truck, other]);
  assert.deepEqual(nms([car, near], 0.45), [car]);
  assert.deepEqual(nms([car, near], 0.6), [car, near], 'kept under a looser threshold');
});

test('matchFrame: greedy by score, each clean box once, at IoU >= the threshold', () => {
  const truth: Box[] = [
    [0, 0, 10, 10],
    [20, 0, 30, 10],
  ];
  // two detections on the first clean box: only one matches; one at IoU exactly 0.5 matches
  const found = [det([0, 0, 10, 10], 0.9), det([1, 0, 11, 10], 0.8), det([20, 0, 30, 5], 0.7)];
  assert.ok(Math.abs(iou(truth[1], found[2].box) - 0.5) < 1e-12);
  const m = matchFrame(truth, found, 0.5);
  assert.equal(m.matched, 2);
  assert.deepEqual(m.taken, [true, true]);
  assert.equal(matchFrame(truth, found, 0.51).matched, 1, 'the half box misses a stricter threshold');
  assert.equal(matchFrame([], found, 0.5).matched, 0);
  // the higher-scoring detection takes the clean box it overlaps best, the other gets what is left
  const pair = matchFrame(
    [
      [0, 0, 10, 10],
      [4, 0, 14, 10],
    ],
    [det([3, 0, 13, 10], 0.9), det([0, 0, 10, 10], 0.5)],
    0.5,
  );
  assert.equal(pair.matched, 2);
});

test('SetTally: recall and precision over frames; null where nothing was there to count', () => {
  const t = new SetTally(0.5);
  t.add([[0, 0, 10, 10]], [det([0, 0, 10, 10], 0.9), det([50, 50, 60, 60], 0.4)]);
  t.add(
    [
      [0, 0, 10, 10],
      [20, 20, 30, 30],
    ],
    [],
  );
  const r = t.result();
  assert.deepEqual(r, { frames: 2, detections: 2, detectionsPerFrame: 1, matched: 1, recall: 0.3333, precision: 0.5 });
  assert.deepEqual(new SetTally(0.5).result(), { frames: 0, detections: 0, detectionsPerFrame: 0, matched: 0, recall: null, precision: null });
});
