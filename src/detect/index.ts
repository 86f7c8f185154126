// The front door of detection: detector cards, the runner, and what is done with boxes. The
// evaluation (src/eval/detect) and the detector client example import from here.
export { area, candidates, iou, nms, type Box, type Detection } from './boxes.js';
export { DEFAULT_CARD, chooseClasses, loadDetector, parseCard, type DetectorCard, type LoadedDetector } from './card.js';
export { DETECTOR_IO, buildDetectorModel, preprocess } from './detector-graph.js';
export { drawBoxes, type Rgb } from './draw.js';
export { gridCells, headShape, letterbox, type Letterbox } from './letterbox.js';
export { SetTally, matchFrame, type SetScores } from './match.js';
export { Detector, type DetectorOptions } from './runner.js';

import { loadDetector } from './card.js';
import { Detector, type DetectorOptions } from './runner.js';

/** A detector by card or ONNX path (unset: the committed YOLOX-nano card), opened for frames of `size`. */
export function openDetector(spec: string | undefined, size: { width: number; height: number }, opts: DetectorOptions = {}): Promise<Detector> {
  return Detector.open(loadDetector(spec), size, opts);
}
