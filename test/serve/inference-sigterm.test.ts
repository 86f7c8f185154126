// SIGTERM and the inference process: sent to the service and its inference process together (as
// systemd or `kill -- -PGID` do), the service stops cleanly without taking it for a crash; sent
// to the inference process alone, it ends after its grace and the service starts a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, getJson, serveProcess, waitFor } from './live-helpers.ts';

const ENV = { DERAIN_DEFAULT_MODEL: 'builtin-tiny' };

async function liveOn(base: string, notPid: number | null): Promise<any> {
  return waitFor(
    `the demo stream live on an inference process other than ${notPid}`,
    async () => {
      const s = (await getJson(`${base}/api/streams/demo`)).body;
      return s.state === 'live' && s.inference?.state === 'running' && s.inference.pid && s.inference.pid !== notPid ? s : null;
    },
    30_000,
    100,
  );
}

test('SIGTERM to the service and its inference process at once: a clean stop, no restart', { timeout: 60_000 }, async () => {
  const svc = serveProcess(['--port', '0', '--rtsp-port', String(await freePort())], ENV);
  const base = await svc.base();
  const pid: number = (await liveOn(base, null)).inference.pid;
  process.kill(pid, 'SIGTERM');
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
  assert.doesNotMatch(svc.stderr(), /restarting it|started \(restart/, 'the stop was not taken for a crash');
});

test('SIGTERM to the inference process alone: it ends after its grace and a new one takes over', { timeout: 60_000 }, async (t) => {
  const svc = serveProcess(['--port', '0', '--rtsp-port', String(await freePort())], ENV);
  const base = await svc.base();
  const pid: number = (await liveOn(base, null)).inference.pid;
  const t0 = Date.now();
  process.kill(pid, 'SIGTERM');
  const back = await liveOn(base, pid);
  const ms = Date.now() - t0;
  t.diagnostic(`live on process ${back.inference.pid} ${ms} ms after the SIGTERM`);
  assert.ok(ms >= 2500 && ms < 10_000, `back after ${ms} ms`);
  assert.equal(back.inference.restarts, 1);
  assert.match(back.inference.lastExit, new RegExp(`inference process ${pid} died \\(exit code 143\\)`));
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
});
