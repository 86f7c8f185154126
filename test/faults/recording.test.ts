// A recording whose folder stops taking files: replaced by a plain file (ENOTDIR, which stops
// root as well as anyone), and the next files' names made links to /dev/full (ENOSPC, a full
// disk). The recording stops with its state reported (API, metrics, log), the stream and its
// WebSocket and RTSP outputs go on, every file already written still plays, and the recording
// starts again by itself once the folder takes files again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe, type ServeHandle } from '../../src/serve/serve.ts';
import { tmpDir } from '../helpers.ts';
import { getJson, metric, rtpBase, sleep, waitFor } from '../serve/live-helpers.ts';
import { framesIn, watchFrames, watchRtsp, type FrameWatch } from './fault-helpers.ts';

const FPS = 10;
const SEGMENT_S = 1;

interface Running {
  svc: ServeHandle;
  base: string;
  rec: string;
  logs: string[];
  ws: FrameWatch;
  rtsp: ReturnType<typeof watchRtsp>;
  api(): Promise<any>;
  recordUp(): Promise<number | undefined>;
}

async function start(): Promise<Running> {
  const dir = tmpDir();
  const rec = path.join(dir, 'rec');
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: rtpBase(), rtpPortCount: 20 },
      streams: [{ id: 'yard', url: `demo://rain?size=192x108&fps=${FPS}`, model: 'builtin-tiny', outputs: { record: { dir: 'rec', segmentSeconds: SEGMENT_S } } }],
    },
    'test',
    dir,
  );
  const logs: string[] = [];
  const svc = await startServe(config, { log: (m) => logs.push(m) });
  const base = svc.httpUrl;
  const api = async () => (await getJson(`${base}/api/streams/yard`)).body;
  await waitFor('the stream live', async () => (await api()).state === 'live', 40_000);
  const ws = await watchFrames(`${base.replace('http', 'ws')}/ws/yard?format=rgb24`);
  const rtsp = watchRtsp(svc.rtsp!.readUrl('yard'));
  after(async () => {
    ws.close();
    await rtsp.stop();
    await svc.close();
  });
  await waitFor('the RTSP reader to decode', () => rtsp.frames() > 0, 20_000);
  const recordUp = async () => metric(await (await fetch(`${base}/metrics`)).text(), 'derain_output_up', { stream: 'yard', output: 'record' });
  return { svc, base, rec, logs, ws, rtsp, api, recordUp };
}

const segments = (dir: string) => (existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir).filter((f) => /^yard-\d{8}-\d{6}\.mp4$/.test(f)) : []).sort();

/** Waits for the recording to say it failed; checks what the API, the metrics and the log say. */
async function failed(r: Running, why: RegExp, since: number): Promise<any> {
  const s = await waitFor('the recording to report its failure', async () => {
    const st = await r.api();
    return st.outputState.record.state === 'retrying' ? st : null;
  });
  assert.ok(Date.now() - since < SEGMENT_S * 1000 + 4000, `reported ${Date.now() - since} ms after the fault`);
  assert.match(s.outputState.record.lastError, why);
  assert.ok(s.outputState.record.retryAt, 'says when it tries next');
  assert.equal(s.state, 'live', 'the stream itself is live');
  assert.equal(await r.recordUp(), 0);
  assert.ok(
    r.logs.some((l) => l === `recording of yard stopped (${s.outputState.record.lastError}); restarting in ${/\d+\.\d s$/.exec(l)?.[0]}`),
    r.logs.join('\n'),
  );
  return s;
}

/** Waits for the recording to run again and write new files. */
async function recovers(r: Running, restartsBefore: number, known: Set<string>): Promise<string[]> {
  const s = await waitFor(
    'the recording running again',
    async () => {
      const st = await r.api();
      return st.outputState.record.state === 'running' && st.outputState.record.restarts > restartsBefore ? st : null;
    },
    40_000,
  );
  assert.equal(s.outputState.record.retryAt, null);
  assert.equal(await r.recordUp(), 1);
  return waitFor('new files that are done', () => {
    const f = segments(r.rec).filter((n) => !known.has(n));
    return f.length >= 2 ? f : null;
  });
}

/** The files the recorder has moved on from (all: and the last one), and their sizes: cheap, so as not to load the machine while the stream is watched. */
function finished(dir: string, all = false): Map<string, number> {
  return new Map(
    segments(dir)
      .slice(0, all ? undefined : -1)
      .map((f) => [f, statSync(path.join(dir, f)).size]),
  );
}

/** Once the watching is over: every file is as it was, and plays. */
async function intact(dir: string, before: Map<string, number>): Promise<number[]> {
  const frames: number[] = [];
  for (const [name, size] of before) {
    assert.equal(statSync(path.join(dir, name)).size, size, `${name} unchanged`);
    const n = await framesIn(path.join(dir, name));
    assert.ok(n > 0, `${name} plays`);
    frames.push(n);
  }
  return frames;
}

/** The stream's other outputs went on: new frames on the WebSocket, no long gap, the RTSP reader never stood. */
function wentOn(r: Running, from: number, t: { diagnostic(m: string): void }, what: string): void {
  const gap = r.ws.maxGap(from);
  const fresh = r.ws.fresh(from).length;
  t.diagnostic(`${what}: WebSocket max gap ${gap.ms} ms, ${fresh} new frames; RTSP reader's longest stall ${r.rtsp.longestStallMs()} ms`);
  assert.ok(gap.ms <= r.ws.gapBound(1000 / FPS), `the WebSocket output stopped for ${gap.ms} ms`);
  assert.ok(fresh > 0 && r.ws.arrivals.slice(from).every((a) => !a.stale), 'new frames only, no repeats');
  assert.ok(r.rtsp.longestStallMs() < 2500, `the RTSP output stood still for ${r.rtsp.longestStallMs()} ms`);
}

test(
  'the recording folder replaced by a file: the recording stops and says so, the stream goes on, nothing recorded is lost, it records again once the folder is back',
  { timeout: 90_000 },
  async (t) => {
    const r = await start();
    await waitFor('two finished files', () => segments(r.rec).length >= 3, 20_000);
    const from = r.ws.arrivals.length;
    const kept = `${r.rec}.kept`;
    const at = Date.now();
    // The folder goes away with what it holds (a disk unmounted, a share gone) and a file takes
    // its path: the file being written follows the folder; the next cannot be made.
    renameSync(r.rec, kept);
    writeFileSync(r.rec, 'not a folder');
    const s = await failed(r, /^cannot make .*\/rec\/yard-\d{8}-\d{6}\.mp4: Not a directory$/, at);
    // (the recorder has failed: the last file is finished too)
    const before = finished(kept, true);
    await sleep(3000);
    const still = await r.api();
    assert.equal(still.outputState.record.state, 'retrying', 'still failing while the folder is a file');
    assert.ok(still.outputState.record.restarts > s.outputState.record.restarts, `tried again meanwhile (${still.outputState.record.restarts} starts)`);
    assert.equal(still.outputState.record.lastError, `cannot make the folder ${r.rec}: a file is in its place`);
    wentOn(r, from, t, 'while the folder was a file');

    unlinkSync(r.rec);
    const fresh = await recovers(r, still.outputState.record.restarts, new Set());
    const text = await (await fetch(`${r.base}/metrics`)).text();
    const restarts = (await r.api()).outputState.record.restarts;
    assert.equal(metric(text, 'derain_output_restarts_total', { stream: 'yard', output: 'record' }), restarts);
    wentOn(r, from, t, 'throughout');
    const frames = await intact(kept, before);
    assert.ok(before.size >= 3, `${before.size} files kept`);
    assert.ok((await framesIn(path.join(r.rec, fresh[0]))) > 0, `the new ${fresh[0]} plays`);
    t.diagnostic(`${before.size} files kept (${frames.join(', ')} frames), ${restarts} starts while failing, ${fresh.length} new files`);
  },
);

/** The file name the recorder gives a segment that starts at `ms` (local time, as ffmpeg's strftime). */
function segmentName(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `yard-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.mp4`;
}

test(
  'the recording disk full (the next files links to /dev/full): the recording stops and says so, the stream goes on, nothing recorded is lost, it records again after',
  { timeout: 90_000 },
  async (t) => {
    const r = await start();
    await waitFor('two finished files', () => segments(r.rec).length >= 3, 20_000);
    const from = r.ws.arrivals.length;
    const before = finished(r.rec);
    // every name the next 6 s could give a file: writes there fail with ENOSPC
    const at = Date.now();
    const full: string[] = [];
    for (let ms = at + 300; ms < at + 6000; ms += 1000) {
      const name = segmentName(ms);
      // (the file being written may have one of the names: it stays)
      if (existsSync(path.join(r.rec, name))) continue;
      symlinkSync('/dev/full', path.join(r.rec, name));
      full.push(name);
    }
    await failed(r, /^cannot write the file: No space left on device$/, at);
    await waitFor('the links to be past', () => Date.now() > at + 6000, 10_000);
    for (const name of full) rmSync(path.join(r.rec, name), { force: true });
    const fresh = await recovers(r, 0, new Set([...before.keys(), ...full]));
    wentOn(r, from, t, 'throughout');
    const frames = await intact(r.rec, before);
    assert.ok((await framesIn(path.join(r.rec, fresh[0]))) > 0, `the new ${fresh[0]} plays`);
    t.diagnostic(`${before.size} files kept (${frames.join(', ')} frames), ${fresh.length} new files after the disk had room again`);
  },
);
