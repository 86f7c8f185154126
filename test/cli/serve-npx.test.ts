// `npx derain serve` stopped with SIGTERM (issue 18, defect 5): npm passes the signal to the
// shell it runs the bin in, the shell dies of it, npm exits, and node was left running under
// PID 1, holding its ports. The real npx, the real bin (dist/, rebuilt first when older than
// src/), a real SIGTERM to npx: the port must be free within a few seconds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tmpDir } from '../helpers.ts';
import { freePort, waitFor } from '../serve/live-helpers.ts';
import { launcherDefaults } from '../../bench/launcher-env.ts';

/** The environment of the processes of a process group whose command line has `needle`. */
function groupEnvs(pgid: number, needle: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) continue;
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      out.push(Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The newest modification time of the .ts files under a folder. */
function newestTs(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestTs(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** The bin runs dist/: build it when src/ changed since (the CLI's own sources; the dashboard is not needed). */
function ensureBuilt(): void {
  const stamp = (() => {
    try {
      return statSync(path.join(ROOT, 'dist', 'cli', 'serve-command.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const src = path.join(ROOT, 'src');
  const newest = Math.max(
    ...readdirSync(src, { withFileTypes: true })
      .filter((e) => e.name !== 'web')
      .map((e) => (e.isDirectory() ? newestTs(path.join(src, e.name)) : e.name.endsWith('.ts') ? statSync(path.join(src, e.name)).mtimeMs : 0)),
  );
  if (newest <= stamp) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  // (type errors elsewhere still emit JavaScript; what matters is that it was written)
  assert.ok(statSync(path.join(ROOT, 'dist', 'cli', 'serve-command.js')).mtimeMs > stamp, `dist/ was not rebuilt: ${r.stdout}${r.stderr}`);
}

async function listening(base: string): Promise<boolean> {
  try {
    await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

test('npx derain serve: SIGTERM to npx stops the service, its port free within 5 s', { timeout: 180_000 }, async () => {
  ensureBuilt();
  const dir = tmpDir();
  const cfg = path.join(dir, 'serve.yaml');
  // (a camera nobody serves: the service runs, no model works, nothing else takes the CPU)
  writeFileSync(cfg, ['rtsp: { enabled: false }', 'streams:', `  - { id: cam, url: "rtsp://127.0.0.1:${await freePort()}/live", model: builtin-tiny }`, ''].join('\n'));
  // Its own process group: npx, its shell and the service, to clean up should the service stay.
  const env = { ...process.env };
  delete env.MALLOC_MMAP_THRESHOLD_;
  const npx = spawn('npx', ['derain', 'serve', '-c', cfg, '--port', '0'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  npx.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  npx.stdout.resume();
  // ('exit', not 'close': the pipes stay open while anything the service started holds them)
  const npxExited = new Promise<void>((r) => npx.once('exit', () => r()));
  after(() => {
    try {
      process.kill(-npx.pid!, 'SIGKILL');
    } catch {
      /* all gone */
    }
  });

  const base = await waitFor(
    'the service to listen',
    () => {
      if (npx.exitCode !== null) throw new Error(`npx exited (${npx.exitCode}): ${err}`);
      return /HTTP (http:\/\/[^\s]+)/.exec(err)?.[1];
    },
    150_000,
    200,
  );
  assert.ok(await listening(base));
  // the bin (bin/derain) gave the service its malloc setting, and it is the one the soak measures with
  const services = groupEnvs(npx.pid!, 'dist/cli.js');
  assert.equal(services.length, 1, 'one service process in the group');
  assert.equal(services[0].MALLOC_MMAP_THRESHOLD_, '131072');
  assert.equal(launcherDefaults().MALLOC_MMAP_THRESHOLD_, '131072');

  const t0 = Date.now();
  process.kill(npx.pid!, 'SIGTERM');
  await npxExited;
  await waitFor('the port to be free', async () => !(await listening(base)), 5000, 100);
  const ms = Date.now() - t0;
  assert.ok(ms < 5000, `free after ${ms} ms`);
  await waitFor('the service to say it stopped', () => /stopped/.test(err), 3000, 100).catch(() => {});
  assert.match(err, /has gone: shutting down/, err);
  // nothing of it is left in its process group
  await waitFor(
    'no process left',
    () => {
      try {
        process.kill(-npx.pid!, 0);
        return false;
      } catch {
        return true;
      }
    },
    5000,
    100,
  );
});
