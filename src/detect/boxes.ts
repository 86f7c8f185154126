// Boxes and what is done with them in JavaScript: the detections of one frame from the graph's
// outputs (a score threshold on the chosen classes), and non-maximum suppression.

/** x1, y1, x2, y2 in frame pixels */
export type Box = [number, number, number, number];

export interface Detection {
  box: Box;
  score: number;
  classId: number;
  label: string;
}

export function area(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (area(a) + area(b) - inter);
}

/**
 * One candidate per anchor: its best class among `classIds`, kept when that score reaches
 * `minScore`. Boxes are [anchors, 4] and scores [anchors, classes], row-major.
 */
export function candidates(boxes: Float32Array, scores: Float32Array, classes: number, classIds: number[], minScore: number, labels: string[]): Detection[] {
  const out: Detection[] = [];
  const anchors = boxes.length / 4;
  for (let a = 0; a < anchors; a++) {
    let best = -1;
    let score = minScore;
    const row = a * classes;
    for (const c of classIds) {
      if (scores[row + c] >= score) {
        score = scores[row + c];
        best = c;
      }
    }
    if (best < 0) continue;
    const box: Box = [boxes[4 * a], boxes[4 * a + 1], boxes[4 * a + 2], boxes[4 * a + 3]];
    if (area(box) > 0) out.push({ box, score, classId: best, label: labels[best] });
  }
  return out;
}

/**
 * Greedy non-maximum suppression, highest score first: a box overlapping a kept one by more
 * than `maxIou` goes. Class-agnostic, boxes of all classes compete (a detector that calls one
 * vehicle both a car and a truck keeps one box); otherwise only boxes of the same class.
 */
export function nms(dets: Detection[], maxIou: number, classAgnostic = true): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.some((k) => (classAgnostic || k.classId === d.classId) && iou(k.box, d.box) > maxIou)) continue;
    kept.push(d);
  }
  return kept;
}
