// The live section of `npm run bench`: the real 640x360 rain clip looped by ffmpeg as 1, 2 and
// 4 RTSP cameras into a real RTSP server; `serve` ingests them all (one shared session),
// derains and republishes each over RTSP. Per stream count: the sustained fps per stream,
// capture→sink latency p50/p95 (decode of the frame to its hand-over to the outputs), the
// inference time in the same run, and the drops. And, for one stream, the same with two frames
// in flight per session (the double buffering of file runs) against the default one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { EmbeddedRtspServer } from '../src/egress/rtsp/embedded-server.ts';
import { resolveConfig } from '../src/serve/config.ts';
import { startServe } from '../src/serve/serve.ts';
import type { StreamStatus } from '../src/http/api-types.ts';
import { ffmpegPath } from '../src/util/ffmpeg.ts';

export interface LiveOptions {
  /** the real clip's frames (…/%03d.png) */
  framesPattern: string;
  tmp: string;
  model?: string;
  inferSize?: string;
  threads?: number;
  log: (msg: string) => void;
}

export interface LiveRow {
  streams: number;
  inFlight: number;
  /** per stream, frames derained per second (mean over streams) */
  fpsPerStream: number;
  /** the cameras' rate */
  sourceFps: number;
  e2eMs: { p50: number; p95: number };
  inferenceMs: { p50: number };
  /** e2e p50 / inference p50: the target is ≤ 2 */
  latencyToInference: number;
  /** frames dropped during the window, all streams, by reason */
  dropped: { behind: number; slow_client: number; encoder_behind: number };
  framesProcessed: number;
}

const WARMUP_MS = 4000;
const WINDOW_MS = 5000; // the API's figures cover the last 5 s

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function makeCameraClip(opts: LiveOptions): string {
  const clip = path.join(opts.tmp, 'camera.mp4');
  // a keyframe every half second, as cameras send, so a reader starts at once
  const r = spawnSync(ffmpegPath(), [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-framerate',
    '25',
    '-i',
    opts.framesPattern,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-g',
    '12',
    '-pix_fmt',
    'yuv420p',
    clip,
  ]);
  if (r.status !== 0) throw new Error(`cannot make the camera clip: ${r.stderr}`);
  return clip;
}

async function measure(clip: string, n: number, inFlight: number, opts: LiveOptions): Promise<LiveRow> {
  const cams = new EmbeddedRtspServer({ host: '127.0.0.1', port: 0, rtpPortStart: 40000 + 200 * n + 100 * inFlight, rtpPortCount: 60 });
  await cams.start();
  const publishers: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    publishers.push(
      spawn(
        ffmpegPath(),
        ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', cams.publishUrl(`cam${i}`)],
        { stdio: 'ignore' },
      ),
    );
  }
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: 41000 + 200 * n + 100 * inFlight, rtpPortCount: 60 },
      defaults: {
        transport: 'udp',
        ...(opts.model ? { model: opts.model } : {}),
        ...(opts.inferSize ? { inferSize: opts.inferSize } : {}),
        ...(opts.threads ? { threads: opts.threads } : {}),
        outputs: { ws: false },
      },
      streams: Array.from({ length: n }, (_, i) => ({ id: `cam${i}`, url: cams.readUrl(`cam${i}`) })),
    },
    'bench',
    opts.tmp,
  );
  const svc = await startServe(config, { log: () => {}, inFlight });
  try {
    const list = () => svc.manager.list();
    const t0 = Date.now();
    while (!list().every((s) => s.state === 'live')) {
      if (Date.now() - t0 > 60_000) throw new Error(`streams not live after 60 s: ${JSON.stringify(list().map((s) => [s.id, s.state, s.reason]))}`);
      await sleep(200);
    }
    await sleep(WARMUP_MS);
    const before = list();
    await sleep(WINDOW_MS);
    const after = list();
    const by = (l: StreamStatus[]) => Object.fromEntries(l.map((s) => [s.id, s]));
    const b = by(before);
    const dropped = { behind: 0, slow_client: 0, encoder_behind: 0 };
    for (const s of after) for (const k of Object.keys(dropped) as (keyof typeof dropped)[]) dropped[k] += s.dropped[k] - b[s.id].dropped[k];
    const e2e50 = median(after.map((s) => s.e2eMs?.p50 ?? NaN));
    const inf50 = median(after.map((s) => s.inferenceMs?.p50 ?? NaN));
    return {
      streams: n,
      inFlight,
      fpsPerStream: round(after.reduce((t, s) => t + s.fps, 0) / n),
      sourceFps: after[0].sourceFps ?? 0,
      e2eMs: { p50: round(e2e50), p95: round(median(after.map((s) => s.e2eMs?.p95 ?? NaN))) },
      inferenceMs: { p50: round(inf50) },
      latencyToInference: round(e2e50 / inf50, 2),
      dropped,
      framesProcessed: after.reduce((t, s) => t + s.framesProcessed - b[s.id].framesProcessed, 0),
    };
  } finally {
    await svc.close();
    for (const p of publishers) p.kill('SIGKILL');
    await cams.close();
  }
}

export async function liveBench(opts: LiveOptions): Promise<LiveRow[]> {
  const clip = makeCameraClip(opts);
  const rows: LiveRow[] = [];
  for (const [n, inFlight] of [
    [1, 1],
    [2, 1],
    [4, 1],
    [1, 2],
  ]) {
    const row = await measure(clip, n, inFlight, opts);
    opts.log(
      `bench: live ${n} stream${n > 1 ? 's' : ''}${inFlight > 1 ? `, ${inFlight} frames in flight` : ''}: ${row.fpsPerStream} fps each (cameras ${row.sourceFps}), ` +
        `capture→sink p50 ${row.e2eMs.p50} ms, p95 ${row.e2eMs.p95} ms; inference p50 ${row.inferenceMs.p50} ms (ratio ${row.latencyToInference}); ` +
        `dropped ${row.dropped.behind} behind, ${row.dropped.encoder_behind} at encoders`,
    );
    rows.push(row);
  }
  return rows;
}
