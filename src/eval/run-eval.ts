// One `derain eval`: every pair of a rain/norain set through the same fused graph as `derain run`
// (each image on its own: smoothing off), scored with PSNR and SSIM on Y against the clean image,
// beside the same scores for the rainy input.
import { UserError } from '../errors.js';
import type { Frame } from '../frame.js';
import { chooseModel, openModel, resolveModel, type Derained, type Derainer, type ModelSettings, type Size } from '../infer/index.js';
import { lumaOf, psnr, SSIM_WINDOW, SsimReference } from './metrics.js';
import { listPairs, type ImagePair } from './pairs.js';
import { readImage, type RgbImage } from './read-image.js';

/** Model settings as for `derain run`; inferSize is turned to each image's orientation (one size serves 480x320 and 320x480); no smoothing. */
export interface EvalOptions extends Omit<ModelSettings, 'smooth'> {
  data: string;
  limit?: number;
  onStart?: (ctx: { model: string; pairs: number }) => void;
  onImage?: (done: number, total: number) => void;
}

export interface ImageResult {
  name: string;
  psnr: number;
  ssim: number;
  inputPsnr: number;
  inputSsim: number;
  width: number;
  height: number;
  inferWidth: number;
  inferHeight: number;
  inferenceMs: number;
}

export interface EvalSummary {
  model: string;
  data: string;
  n: number;
  psnr: number;
  ssim: number;
  inputPsnr: number;
  inputSsim: number;
  ep: string;
  /** mean inference time per image (the fused graph alone) */
  msPerImage: number;
  wallSeconds: number;
  perImage: ImageResult[];
}

/** Pairs decoded ahead of the one being scored: ffmpeg decodes while the model runs. */
const LOOKAHEAD = 2;

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Loaded {
  pair: ImagePair;
  rain: RgbImage;
  norain: RgbImage;
}

async function load(pair: ImagePair): Promise<Loaded> {
  const [rain, norain] = await Promise.all([readImage(pair.rain), readImage(pair.norain)]);
  if (rain.width !== norain.width || rain.height !== norain.height)
    throw new UserError(`pair ${pair.name}: rain/${pair.name} is ${rain.width}x${rain.height} but norain/${pair.name} is ${norain.width}x${norain.height}`);
  if (rain.width < SSIM_WINDOW || rain.height < SSIM_WINDOW) throw new UserError(`pair ${pair.name}: ${rain.width}x${rain.height} is smaller than the ${SSIM_WINDOW}x${SSIM_WINDOW} SSIM window`);
  return { pair, rain, norain };
}

function oriented(size: Size, frame: Size): Size {
  const flip = size.width > size.height !== frame.width > frame.height && size.width !== size.height && frame.width !== frame.height;
  return flip ? { width: size.height, height: size.width } : size;
}

interface Runner {
  derainer: Derainer;
  infer: Size;
}

interface Launched {
  item: Loaded;
  runner: Runner;
  running: Promise<Derained>;
}

export async function runEval(opts: EvalOptions): Promise<EvalSummary> {
  const started = performance.now();
  const pairs = listPairs(opts.data, opts.limit);
  // The same default model as `derain run`; resolved up front, so an unknown model fails before
  // any decoding; a fixed-size model keeps its size.
  const model = chooseModel(opts.model, opts.ep, 'file').name;
  const resolved = resolveModel(model);
  const fixed = resolved.fixedSize !== undefined;
  opts.onStart?.({ model: resolved.card.name, pairs: pairs.length });

  const runners = new Map<string, Promise<Runner>>();
  const runnerFor = (frame: Size): Promise<Runner> => {
    const key = `${frame.width}x${frame.height}`;
    let r = runners.get(key);
    if (!r) {
      r = openRunner({ ...opts, model }, frame, fixed);
      // A failed open is reported where it is awaited; close() must not trip over it.
      r.catch(() => {});
      runners.set(key, r);
    }
    return r;
  };

  const queue: Promise<Loaded>[] = [];
  let next = 0;
  const refill = () => {
    while (queue.length < LOOKAHEAD && next < pairs.length) {
      const p = load(pairs[next++]);
      // Awaited in order below; a failure further ahead must not surface as an unhandled rejection.
      p.catch(() => {});
      queue.push(p);
    }
  };

  // Image i+1 goes to the inference process before image i is scored, so the model never waits for the metrics.
  const launch = async (i: number): Promise<Launched> => {
    const item = await queue.shift()!;
    refill();
    const runner = await runnerFor(item.rain);
    const { rain } = item;
    const frame: Frame = { data: rain.data, width: rain.width, height: rain.height, pts: 0, seq: i, capturedAt: Date.now() };
    // each image on its own: a temporal model sees it as a first frame, with no past
    runner.derainer.reset();
    const running = runner.derainer.infer(frame);
    running.catch(() => {});
    return { item, runner, running };
  };

  const results: ImageResult[] = [];
  let ep = '';
  let upcoming: Promise<Launched> | null = null;
  try {
    refill();
    upcoming = launch(0);
    for (let i = 0; i < pairs.length; i++) {
      const { item, runner, running } = await upcoming!;
      upcoming = i + 1 < pairs.length ? launch(i + 1) : null;
      upcoming?.catch(() => {});
      const { rain, norain, pair } = item;
      ep = runner.derainer.ep;
      const ref = new SsimReference(lumaOf(norain.data, norain.width, norain.height));
      const input = lumaOf(rain.data, rain.width, rain.height);
      const inputPsnr = psnr(input, ref.ref);
      const inputSsim = ref.ssim(input);
      let out;
      try {
        out = await running;
      } catch (err) {
        throw new UserError(`model ${resolved.card.name} failed on ${pair.name}: ${(err as Error).message}`, 1);
      }
      const derained = lumaOf(out.frame.data, out.frame.width, out.frame.height);
      results.push({
        name: pair.name,
        psnr: psnr(derained, ref.ref),
        ssim: ref.ssim(derained),
        inputPsnr,
        inputSsim,
        width: rain.width,
        height: rain.height,
        inferWidth: runner.infer.width,
        inferHeight: runner.infer.height,
        inferenceMs: out.inferenceMs,
      });
      opts.onImage?.(results.length, pairs.length);
    }
  } finally {
    // A launch still under way could open a runner after the others closed: let it settle first.
    await upcoming?.catch(() => undefined);
    await Promise.all(
      [...runners.values()].map((r) =>
        r.then(
          (x) => x.derainer.close(),
          () => undefined,
        ),
      ),
    );
    // Decodes still in flight finish on their own (one short ffmpeg each); their results are dropped.
  }

  return {
    model: resolved.card.name,
    data: opts.data,
    n: results.length,
    psnr: round(mean(results.map((r) => r.psnr)), 4),
    ssim: round(mean(results.map((r) => r.ssim)), 5),
    inputPsnr: round(mean(results.map((r) => r.inputPsnr)), 4),
    inputSsim: round(mean(results.map((r) => r.inputSsim)), 5),
    ep,
    msPerImage: round(mean(results.map((r) => r.inferenceMs)), 2),
    wallSeconds: round((performance.now() - started) / 1000, 3),
    perImage: results.map((r) => ({ ...r, psnr: round(r.psnr, 4), ssim: round(r.ssim, 5), inputPsnr: round(r.inputPsnr, 4), inputSsim: round(r.inputSsim, 5), inferenceMs: round(r.inferenceMs, 2) })),
  };
}

async function openRunner(opts: EvalOptions & { model: string }, frame: Size, fixed: boolean): Promise<Runner> {
  // Full resolution unless asked otherwise: the card's recommended size is for live video, not for scoring.
  const request = opts.inferSize ? { inferSize: oriented(opts.inferSize, frame) } : opts.scale !== undefined ? { scale: opts.scale } : fixed ? {} : { scale: 1 };
  const { derainer, infer } = await openModel({ ...opts, smooth: 0 }, frame, { purpose: 'file', request });
  return { derainer, infer };
}
