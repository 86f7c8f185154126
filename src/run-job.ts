// One `derain run` job: probe the input, open the model, run the pipeline, report.
import { UserError } from './errors.js';
import { openModel, type ModelSettings, type Size } from './infer/index.js';
import { FfmpegSource } from './ingest/ffmpeg-source.js';
import { probeInput, type InputInfo } from './ingest/probe.js';
import { FfmpegEncoderSink } from './egress/ffmpeg-encoder.js';
import { NullSink } from './egress/null-sink.js';
import { parseOutput } from './egress/output-target.js';
import { FILE_POLICY, InputEndedEarly, Pipeline, type PipelineStats } from './pipeline/index.js';
import { percentile } from './util/percentile.js';

export interface RunOptions extends ModelSettings {
  input: string;
  output?: string;
  fps?: number;
  onStart?: (info: InputInfo, ctx: { model: string; ep: string; skipped: string[]; infer: Size }) => void;
  onFrame?: (stats: PipelineStats) => void;
  /** aborting stops the run early; what was derained is kept, marked incomplete */
  signal?: AbortSignal;
}

export interface RunSummary {
  input: string;
  output: string | null;
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  width: number;
  height: number;
  inferWidth: number;
  inferHeight: number;
  model: string;
  ep: string;
  wallSeconds: number;
  fps: number;
  inferenceMs: { p50: number; p95: number };
  /** the frame count the container declared, when it declared one */
  framesExpected?: number;
  note?: string;
}

const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

export async function runJob(opts: RunOptions): Promise<RunSummary> {
  const target = parseOutput(opts.output);
  const info = await probeInput(opts.input, { fps: opts.fps });
  const frame = { width: info.width, height: info.height };
  const model = await openModel(opts, frame, { purpose: 'file' });
  const { derainer } = model;
  opts.onStart?.(info, { model: model.card.name, ep: model.ep, skipped: model.skippedEps, infer: model.infer });

  const source = new FfmpegSource(info);
  let sink: FfmpegEncoderSink | NullSink;
  try {
    sink = target.kind === 'none' ? new NullSink() : new FfmpegEncoderSink(target, { width: frame.width, height: frame.height, fps: info.fps });
  } catch (err) {
    await derainer.close();
    throw err;
  }
  const pipeline = new Pipeline({
    source,
    inference: derainer,
    sinks: [sink],
    policy: FILE_POLICY,
    keepTimings: true,
    onOutput: (_d, stats) => opts.onFrame?.(stats),
    expectFrames: info.frameCountExact ? info.frameCount : () => framesDeclared(info, source),
  });
  opts.signal?.addEventListener('abort', () => pipeline.interrupt(), { once: true });
  let stats: PipelineStats;
  try {
    stats = await pipeline.run();
  } catch (err) {
    const said = source.decodeErrors;
    if (err instanceof InputEndedEarly && err.framesIn === 0) throw new UserError(`input ${info.display} holds no frame that can be decoded${said ? ` (ffmpeg: ${said})` : ''}`);
    const kept = sink instanceof FfmpegEncoderSink && sink.finalPath ? ` (the ${pipeline.stats.framesOut} frames done are kept in ${sink.finalPath})` : '';
    const message = err instanceof InputEndedEarly ? new InputEndedEarly(err.framesIn, err.expected, said).message : (err as Error).message;
    throw err instanceof UserError ? new UserError(message + kept, err.exitCode) : new UserError(`${message}${kept}`, 1);
  } finally {
    await derainer.close();
  }

  const summary: RunSummary = {
    input: info.display,
    output: target.kind === 'none' ? null : target.path,
    framesIn: stats.framesIn,
    framesOut: stats.framesOut,
    framesDropped: stats.framesDropped,
    width: frame.width,
    height: frame.height,
    inferWidth: model.infer.width,
    inferHeight: model.infer.height,
    model: model.card.name,
    ep: model.ep,
    wallSeconds: round(stats.wallSeconds, 3),
    fps: round(stats.framesOut / Math.max(stats.wallSeconds, 1e-9)),
    inferenceMs: { p50: round(percentile(stats.inferenceMs, 50)), p95: round(percentile(stats.inferenceMs, 95)) },
  };
  if (info.frameCount !== undefined && info.frameCountExact) summary.framesExpected = info.frameCount;
  const notes = [
    info.fpsNote,
    source.decodeErrors && `the decoder reported errors in the input (${source.decodeErrors}): frames it could not repair are damaged or missing`,
    sink instanceof FfmpegEncoderSink && sink.paddedTo && `odd frame size: the video was padded to ${sink.paddedTo} for yuv420p`,
  ].filter(Boolean);
  if (notes.length) summary.note = notes.join('; ');
  return summary;
}

/**
 * The frames a file without a frame count of its own should have held, when the decoder says it
 * is damaged and its declared duration holds clearly more than came out (a Matroska file cut
 * short: its header keeps the whole duration); and at least one frame, of any file. Undefined:
 * nothing to hold the frames decoded against.
 */
function framesDeclared(info: InputInfo, source: FfmpegSource): number | undefined {
  if (info.kind !== 'file') return undefined;
  const byDuration = info.durationSeconds && !info.fpsNote ? Math.round(info.durationSeconds * info.fps) : 0;
  if (source.decodeErrors && source.framesDecoded < 0.9 * byDuration) return byDuration;
  return 1;
}
