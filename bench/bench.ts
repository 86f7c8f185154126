// npm run bench [-- --json] [--model M] [--infer-size WxH] [--threads N] [--no-live] [--cameras 1,2,4,8] [--soak seconds]
// On the real 50-frame 640x360 rain clip: the fused graph alone (frames already in memory)
// against the whole pipeline (decode → infer → encode), measured in one run, and the model's
// achieved GFLOP/s against a convolution-peak graph run in the same process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Derainer } from '../src/infer/derainer.ts';
import { cpuThreads } from '../src/infer/session.ts';
import { countFlops } from '../src/infer/flops.ts';
import { fusedFeeds } from '../src/infer/model-speed.ts';
import { MODEL_DEFAULTS } from '../src/infer/model-settings.ts';
import { parseSize } from '../src/infer/infer-size.ts';
import { prepareModel } from '../src/infer/prepare-model.ts';
import { chooseModel } from '../src/infer/open-model.ts';
import { runJob } from '../src/run-job.ts';
import { percentile } from '../src/util/percentile.ts';
import { ffmpegPath } from '../src/util/ffmpeg.ts';
import type { Frame } from '../src/frame.ts';
import { convPeak } from './conv-peak.ts';
import { liveBench, parseCameras } from './live.ts';
import { soak } from './soak.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLIP_DIR = path.resolve(ROOT, '..', 'shared', 'data', 'real-video-j4rnet');
const ROUNDS = 3;
const W = 640;
const H = 360;

const program = new Command('bench')
  .option('--model <name|path>', 'model to measure (default: the default model)')
  .option('--infer-size <WxH>', 'inference size')
  .option('--threads <n>', 'onnxruntime threads', (v) => parseInt(v, 10))
  .option('--json', 'one JSON object on stdout')
  .option('--no-live', 'skip the live section (RTSP cameras through derain serve)')
  .option('--cameras <list>', 'camera counts of the live section', parseCameras, [1, 2, 4, 8])
  .option('--soak <seconds>', 'only the soak: derain serve for this long with four looped cameras and two awkward WebSocket clients (bench/soak.ts)', (v) => parseInt(v, 10))
  .parse(process.argv);
const opts = program.opts<{ model?: string; inferSize?: string; threads?: number; json?: boolean; live: boolean; cameras: number[]; soak?: number }>();
const log = (msg: string) => process.stderr.write(msg + '\n');
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

function decodeFrames(): Buffer[] {
  const r = spawnSync(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-framerate', '25', '-i', path.join(CLIP_DIR, '%03d.png'), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`cannot read ${CLIP_DIR}: ${r.stderr}`);
  const n = r.stdout.length / (W * H * 3);
  return Array.from({ length: n }, (_, i) => r.stdout.subarray(i * W * H * 3, (i + 1) * W * H * 3));
}

/** Steady-state throughput: frames after the first, over the time from the first output to the last. */
function steadyFps(doneAt: number[]): number {
  return (doneAt.length - 1) / ((doneAt[doneAt.length - 1] - doneAt[0]) / 1000);
}

async function modelOnly(frames: Buffer[], fused: Uint8Array, past: number[] | null): Promise<{ fps: number; ms: number[]; ep: string }> {
  const d = await Derainer.open({ model: fused, width: W, height: H, ep: 'auto', threads: opts.threads, smooth: MODEL_DEFAULTS.smooth, past });
  const frameOf = (i: number): Frame => ({ data: frames[i % frames.length], width: W, height: H, seq: i, pts: i / 25, capturedAt: 0 });
  await d.infer(frameOf(0)); // warm-up
  const doneAt: number[] = [];
  const ms: number[] = [];
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < frames.length; i++) {
    inflight.push(
      d.infer(frameOf(i)).then((r) => {
        doneAt.push(performance.now());
        ms.push(r.inferenceMs);
      }),
    );
    if (inflight.length >= 2) await inflight.shift();
  }
  await Promise.all(inflight);
  await d.close();
  return { fps: steadyFps(doneAt), ms, ep: d.ep };
}

async function main() {
  if (opts.soak !== undefined) {
    if (!(opts.soak > 0)) throw new Error('--soak takes a number of seconds');
    const result = await soak({ seconds: opts.soak, framesPattern: path.join(CLIP_DIR, '%03d.png'), model: opts.model, inferSize: opts.inferSize, threads: opts.threads, log });
    if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const frames = decodeFrames();
  const inferSize = opts.inferSize ? parseSize(opts.inferSize, '--infer-size') : undefined;
  const prepared = prepareModel(chooseModel(opts.model, 'auto').name, { width: W, height: H }, { inferSize });
  log(`bench: ${frames.length} frames of ${W}x${H}, model ${prepared.card.name} at ${prepared.infer.width}x${prepared.infer.height}`);

  const flops = await countFlops(prepared.fused, fusedFeeds(W, H, prepared.past, new Uint8Array(frames[0])));
  const peak = await convPeak(opts.threads);
  log(`bench: convolution peak ${peak.toFixed(1)} GFLOP/s; model ${(flops / 1e9).toFixed(3)} GFLOP/frame`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'derain-bench-'));
  try {
    const clip = path.join(tmp, 'clip.mp4');
    const r = spawnSync(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-framerate', '25', '-i', path.join(CLIP_DIR, '%03d.png'), '-pix_fmt', 'yuv420p', clip]);
    if (r.status !== 0) throw new Error(`cannot make the clip: ${r.stderr}`);

    // Alternate the two measurements and take medians: the machine is shared and noisy.
    const modelRuns: Awaited<ReturnType<typeof modelOnly>>[] = [];
    const pipeRuns: { fps: number; wallFps: number; ms: { p50: number; p95: number } }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const m = await modelOnly(frames, prepared.fused, prepared.past);
      modelRuns.push(m);
      const doneAt: number[] = [];
      const summary = await runJob({
        input: clip,
        output: path.join(tmp, 'out.mp4'),
        model: opts.model,
        inferSize,
        smooth: MODEL_DEFAULTS.smooth,
        ep: 'auto',
        threads: opts.threads,
        onFrame: () => doneAt.push(performance.now()),
      });
      pipeRuns.push({ fps: steadyFps(doneAt), wallFps: summary.fps, ms: summary.inferenceMs });
      log(`bench: round ${round + 1}: model only ${m.fps.toFixed(2)} fps, whole pipeline ${steadyFps(doneAt).toFixed(2)} fps (${summary.fps.toFixed(2)} with start-up and flush)`);
    }
    const median = (v: number[]) => percentile(v, 50);
    const model = { fps: median(modelRuns.map((m) => m.fps)), ms: modelRuns.flatMap((m) => m.ms), ep: modelRuns[0].ep };
    const pipelineFps = median(pipeRuns.map((p) => p.fps));
    const summary = { fps: median(pipeRuns.map((p) => p.wallFps)), inferenceMs: pipeRuns[pipeRuns.length - 1].ms };

    const result = {
      model: prepared.card.name,
      frames: frames.length,
      width: W,
      height: H,
      inferWidth: prepared.infer.width,
      inferHeight: prepared.infer.height,
      ep: model.ep,
      threads: opts.threads ?? cpuThreads(),
      modelOnlyFps: round(model.fps),
      pipelineFps: round(pipelineFps),
      pipelineWallFps: summary.fps,
      overheadRatio: round(pipelineFps / model.fps, 3),
      inferenceMs: { p50: round(percentile(model.ms, 50)), p95: round(percentile(model.ms, 95)) },
      pipelineInferenceMs: summary.inferenceMs,
      gflopPerFrame: round(flops / 1e9, 3),
      achievedGflops: round((flops / 1e9) * model.fps, 1),
      peakGflops: round(peak, 1),
      peakFraction: round(((flops / 1e9) * model.fps) / peak, 3),
      targets: { overheadRatio: 0.95, liveLatencyToInference: 2 },
      live: opts.live
        ? await liveBench({
            framesPattern: path.join(CLIP_DIR, '%03d.png'),
            tmp,
            model: opts.model ?? prepared.card.name,
            inferSize: opts.inferSize,
            threads: opts.threads,
            cameras: opts.cameras,
            log,
          })
        : undefined,
    };
    if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      log(`overhead ratio (pipeline fps / model-only fps): ${result.overheadRatio} (target ≥ 0.95)`);
      log(`achieved ${result.achievedGflops} GFLOP/s of ${result.peakGflops} peak (${(result.peakFraction * 100).toFixed(0)}%)`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${process.env.DEBUG ? (err as Error).stack : (err as Error).message}\n`);
  process.exitCode = 1;
});
