// `derain serve` whose inference process dies or hangs: the real CLI (the demo stream), its
// inference process killed with signals as an operator or the kernel's OOM killer would. The
// service restarts the process, the stream comes back, every restart is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, getJson, metric, serveProcess, waitFor, type ServeProcess } from './live-helpers.ts';

const ENV = { DERAIN_DEFAULT_MODEL: 'builtin-tiny' };

async function demo(base: string): Promise<any> {
  return (await getJson(`${base}/api/streams/demo`)).body;
}

async function restartsMetric(base: string): Promise<number | undefined> {
  return metric(await (await fetch(`${base}/metrics`)).text(), 'derain_inference_restarts_total', { model: 'builtin-tiny' });
}

/** The demo stream live, deraining, on a running inference process; its status then. */
function liveOn(base: string, notPid: number | null, processedOver: number, timeoutMs: number): Promise<any> {
  return waitFor(
    `the demo stream live on a new inference process (not ${notPid})`,
    async () => {
      const s = await demo(base);
      const inf = s.inference;
      return s.state === 'live' && inf?.state === 'running' && inf.pid && inf.pid !== notPid && s.framesProcessed > processedOver ? s : null;
    },
    timeoutMs,
    100,
  );
}

async function startDemo(): Promise<{ svc: ServeProcess; base: string; first: any }> {
  const svc = serveProcess(['--port', '0', '--rtsp-port', String(await freePort())], ENV);
  const base = await svc.base();
  const first = await liveOn(base, null, 0, 30_000);
  return { svc, base, first };
}

test('kill -9 of the inference process that /api/streams names: the demo stream is live again within 10 s, derain_inference_restarts_total 1', { timeout: 90_000 }, async (t) => {
  const { svc, base, first } = await startDemo();
  const pid: number = first.inference.pid;
  assert.match(svc.stderr(), new RegExp(`inference process ${pid}\\b`), 'the log names the process');
  assert.equal(first.inference.restarts, 0);
  assert.equal(await restartsMetric(base), 0);

  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  const back = await liveOn(base, pid, first.framesProcessed, 10_000);
  const ms = Date.now() - t0;
  assert.ok(ms < 10_000, `live again after ${ms} ms`);
  t.diagnostic(`live again ${ms} ms after the kill`);
  assert.equal(back.inference.restarts, 1);
  assert.match(back.inference.lastExit, new RegExp(`inference process ${pid} died \\(signal SIGKILL\\)`));
  assert.equal(await restartsMetric(base), 1);
  assert.match(svc.stderr(), new RegExp(`inference process ${back.inference.pid} started \\(restart 1\\)`));
  // frames keep coming from the new process
  const later = await waitFor('more frames', async () => ((await demo(base)).framesProcessed > back.framesProcessed + 10 ? true : null), 10_000);
  assert.ok(later);
  assert.equal(svc.child.exitCode, null, 'serve still runs');
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
});

test('the inference process killed 10 times in a row: 10 recoveries, the service never exits', { timeout: 120_000 }, async (t) => {
  const { svc, base, first } = await startDemo();
  let status = first;
  const took: number[] = [];
  for (let i = 1; i <= 10; i++) {
    const pid: number = status.inference.pid;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    status = await liveOn(base, pid, status.framesProcessed, 10_000);
    took.push(Date.now() - t0);
    assert.equal(status.inference.restarts, i);
    assert.equal(svc.child.exitCode, null, `serve still runs after kill ${i}`);
  }
  assert.equal(await restartsMetric(base), 10);
  t.diagnostic(`recoveries took ${took.join(', ')} ms`);
  assert.ok(
    took.every((ms) => ms < 10_000),
    `recoveries took ${took.join(', ')} ms`,
  );
  assert.equal((await getJson(`${base}/healthz`)).status, 200);
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
});

test('a stopped inference process (SIGSTOP) is found hung by the frame deadline, killed and restarted', { timeout: 90_000 }, async (t) => {
  const { svc, base } = await startDemo();
  // past its first frames (the warm-up is not what a deadline is measured from)
  const first = await waitFor('frames derained', async () => {
    const s = await demo(base);
    return s.framesProcessed > 25 ? s : null;
  });
  const pid: number = first.inference.pid;
  const t0 = Date.now();
  process.kill(pid, 'SIGSTOP');
  // builtin-tiny's frames take milliseconds: the deadline is its 10 s floor
  const quiet = await waitFor('the stream stale while the process is stopped', async () => ((await demo(base)).state === 'stale' ? true : null), 10_000, 100);
  assert.ok(quiet);
  const back = await liveOn(base, pid, first.framesProcessed, 25_000);
  const ms = Date.now() - t0;
  assert.ok(ms >= 9_000, `not found hung before its deadline (${ms} ms)`);
  t.diagnostic(`live again ${ms} ms after SIGSTOP`);
  assert.match(back.inference.lastExit, new RegExp(`inference process ${pid} hung \\(no result in 10\\.0 s\\), killed`));
  assert.equal(back.inference.restarts, 1);
  assert.equal(await restartsMetric(base), 1);
  assert.throws(() => process.kill(pid, 0), 'the stopped process is gone');
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
});
