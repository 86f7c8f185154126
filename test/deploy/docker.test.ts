// deploy/docker: the Dockerfiles read as BuildKit reads them (stages, COPY sources present and
// sent by the .dockerignore, the entrypoint, user, ports, healthcheck), and the CPU image built
// and run without Docker: its stages' commands run verbatim in temporary folders standing in
// for the image's (no Docker engine here), then the entrypoint runs as the image's user with the
// root filesystem read-only and /tmp a fresh tmpfs, as in the Kubernetes pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { loadConfig } from '../../src/serve/config.ts';
import { freePort, getJson, readRtsp, waitFor } from '../serve/live-helpers.ts';
import { DEPLOY, ROOT, copies, dockerignoreSends, envOf, execForm, parseDockerfile, stage, type Copy, type Dockerfile, type Stage } from './deploy-helpers.ts';

const DOCKER = path.join(DEPLOY, 'docker');
const read = (f: string) => readFileSync(path.join(DOCKER, f), 'utf8');
const cpu = parseDockerfile(read('Dockerfile'));
const cuda = parseDockerfile(read('Dockerfile.cuda'));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The repository's files: tracked, and new ones git does not ignore. */
const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);

function runs(s: Stage): string[] {
  return s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

for (const [name, df] of [
  ['Dockerfile', cpu],
  ['Dockerfile.cuda', cuda],
] as [string, Dockerfile][]) {
  test(`${name}: stages, sources, user, ports, healthcheck and the entrypoint`, () => {
    assert.deepEqual(
      df.stages.map((s) => s.name),
      ['build', 'prod', 'runtime'],
    );
    assert.equal(df.globalArgs.NODE_IMAGE, 'node:20-bookworm-slim');
    assert.equal(stage(df, 'build').base, 'node:20-bookworm-slim');
    assert.equal(stage(df, 'prod').base, 'node:20-bookworm-slim');
    if (name === 'Dockerfile') assert.equal(stage(df, 'runtime').base, 'node:20-bookworm-slim');
    else assert.match(stage(df, 'runtime').base, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.04$/); // cuDNN 9 (the cudnn-runtime tags of CUDA 12.3+)

    // every COPY from the context exists and is sent by the Dockerfile's own .dockerignore
    const sends = dockerignoreSends(read(`${name}.dockerignore`));
    for (const s of df.stages)
      for (const c of copies(s)) {
        if (c.from) {
          assert.ok(
            df.stages.some((x) => x.name === c.from),
            `line ${c.line}: --from=${c.from} is a stage`,
          );
          continue;
        }
        for (const src of c.sources) {
          assert.ok(existsSync(path.join(ROOT, src)), `line ${c.line}: COPY source ${src} exists`);
          const files = tracked.filter((f) => f === src || f.startsWith(src + '/'));
          assert.ok(files.length > 0, `line ${c.line}: ${src} holds tracked files`);
          // (the kit and the checkpoints training resumes from are left out on purpose)
          for (const f of files.filter((x) => !x.startsWith('models/fclip_unet/') && !x.endsWith('.pt'))) assert.ok(sends(f), `line ${c.line}: ${f} is sent to the build (.dockerignore)`);
        }
      }
    // what must not reach the build
    for (const kept of [
      'node_modules/yaml/package.json',
      'dist/cli.js',
      'runs/x/metrics.json',
      'test-output/web/a.png',
      '.git/HEAD',
      'test/helpers.ts',
      'shared/data/x.mp4',
      '.env',
      'deploy/compose/.env',
      'models/fclip_unet/train.py',
      'models/maxim-derain/model.onnx',
      'models/fclip_unet/__pycache__/x.pyc',
    ])
      assert.equal(sends(kept), false, `${kept} is not sent`);
    assert.equal(sends('models/fclip-unet-lite/model.onnx'), true);
    assert.equal(sends('models/fclip-unet-lite2/model.onnx'), true);
    assert.equal(sends('models/fclip-unet-lite2/weights.fp16.pt'), false, 'training checkpoints stay out');
    assert.equal(sends('models/maxim-derain/card.json'), true);

    // the build stage builds with the package's own script
    assert.deepEqual(runs(stage(df, 'build')), ['npm ci --ignore-scripts --no-audit --no-fund', 'npm run build']);
    assert.equal(pkg.scripts.build, 'tsc -p tsconfig.json && node scripts/build-web.mjs');
    // the runtime installs without dev dependencies
    assert.ok(runs(stage(df, 'prod')).some((r) => /^npm ci --omit=dev\b/.test(r)));

    const rt = stage(df, 'runtime');
    const last = (kw: string) => rt.instructions.filter((i) => i.keyword === kw).at(-1)!;
    // the `derain` command (bin/derain, which execs node dist/cli.js) serve -c /etc/derain/serve.yaml,
    // as PID 1 (exec form): SIGTERM reaches serve
    const command = [...execForm(last('ENTRYPOINT').args), ...execForm(last('CMD').args)];
    assert.deepEqual(command, ['/app/bin/derain', 'serve', '-c', '/etc/derain/serve.yaml']);
    assert.equal(pkg.bin.derain, 'bin/derain');
    assert.match(readFileSync(path.join(ROOT, 'bin', 'derain'), 'utf8'), /^exec node "\$here\/\.\.\/dist\/cli\.js" "\$@"$/m, 'the bin execs node: no shell stays between');
    assert.ok(!/\bnpx\b|\bnpm (start|run)\b/.test(last('ENTRYPOINT').args + last('CMD').args));
    assert.ok(
      copies(rt).some((c) => c.sources.includes('deploy/docker/serve.yaml') && c.dest === '/etc/derain/serve.yaml'),
      'the config goes to /etc/derain/serve.yaml',
    );
    assert.equal(last('USER').args, '10001:10001', 'non-root, numeric (runAsNonRoot can check it)');
    assert.equal(last('WORKDIR').args, '/app');
    assert.deepEqual(last('EXPOSE').args.split(/\s+/), ['8080', '8554']);
    const hc = last('HEALTHCHECK').args;
    assert.deepEqual(execForm(hc), ['node', '/app/healthcheck.mjs']);
    assert.ok(
      copies(rt).some((c) => c.sources.includes('deploy/docker/healthcheck.mjs') && c.dest === './healthcheck.mjs'),
      'healthcheck.mjs is in /app',
    );
    const env = envOf(rt);
    assert.equal(env.FFMPEG_PATH, '/usr/bin/ffmpeg');
    assert.equal(env.FFPROBE_PATH, '/usr/bin/ffprobe');
    assert.equal(env.ORT_DISABLE_TELEMETRY, '1');
    assert.ok(
      runs(rt).some((r) => /apt-get install -y --no-install-recommends ffmpeg\b/.test(r)),
      'the ffmpeg FFMPEG_PATH names is installed',
    );
  });
}

test('Dockerfile.cuda: onnxruntime-node GPU providers through its install script, node from the Node image, TensorRT an option', () => {
  const prodRuns = runs(stage(cuda, 'prod'));
  assert.ok(prodRuns.some((r) => r.startsWith('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install')));
  assert.ok(existsSync(path.join(ROOT, 'node_modules/onnxruntime-node/script/install.js')), 'the install script is where the RUN names it');
  // the same build and the same runtime dependencies as the CPU image, plus the GPU providers
  assert.deepEqual(runs(stage(cuda, 'build')), runs(stage(cpu, 'build')));
  assert.deepEqual(
    prodRuns.filter((r) => !r.startsWith('ONNXRUNTIME_NODE_INSTALL=')),
    runs(stage(cpu, 'prod')),
  );
  assert.ok(
    copies(stage(cuda, 'runtime')).some((c) => c.from === 'build' && c.sources[0] === '/usr/local/bin/node'),
    'node is the Node image binary',
  );
  const rt = stage(cuda, 'runtime');
  assert.ok(rt.instructions.some((i) => i.keyword === 'ARG' && i.args === 'TENSORRT=0'));
  assert.match(runs(rt).join('\n'), /if \[ "\$TENSORRT" = 1 \]; then apt-get install -y --no-install-recommends libnvinfer10/);
  // the two ignore files are the same list
  const rules = (f: string) =>
    read(f)
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(rules('Dockerfile.cuda.dockerignore'), rules('Dockerfile.dockerignore'));
});

test("the image's default config loads (listeners on 0.0.0.0, the demo camera) and its variables have defaults", () => {
  const file = path.join(DOCKER, 'serve.yaml');
  const cfg = loadConfig(file, {});
  assert.equal(cfg.server.host, '0.0.0.0');
  assert.equal(cfg.server.port, 8080);
  assert.deepEqual(cfg.rtsp, { kind: 'embedded', host: '0.0.0.0', port: 8554, rtpPortStart: 30000, rtpPortCount: 100 });
  assert.deepEqual(
    cfg.streams.map((s) => s.id),
    ['demo'],
  );
  const moved = loadConfig(file, { DERAIN_HOST: '127.0.0.1', DERAIN_PORT: '9000', DERAIN_RTSP_PORT: '9554' });
  assert.equal(moved.server.host, '127.0.0.1');
  assert.equal(moved.server.port, 9000);
  assert.equal(moved.rtsp.kind === 'embedded' && moved.rtsp.port, 9554);
});

/** A folder outside /tmp (the run below mounts a fresh tmpfs there), removed after the tests. */
function scratch(): string {
  const dir = mkdtempSync(path.join('/var/tmp', 'derain-image-'));
  chmodSync(dir, 0o755);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync('sh', ['-c', cmd], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`RUN ${cmd} (in ${cwd}) failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * COPY as Docker does it, into the stage's folder (`root` stands for /): a folder's contents go to
 * the destination, files into a destination ending in / (or given several), from the context as
 * the stage's .dockerignore sends it, or from an earlier stage's folder.
 */
function copyInto(c: Copy, cwd: string, root: string, stageDirs: Record<string, Record<string, string>>, sends: (rel: string) => boolean): void {
  const dest = c.dest.startsWith('/') ? path.join(root, c.dest) : path.join(cwd, c.dest);
  const intoFolder = c.dest.endsWith('/') || c.sources.length > 1;
  for (const src of c.sources) {
    let from = path.join(ROOT, src);
    if (c.from) {
      const dirs = stageDirs[c.from] ?? {};
      const prefix = Object.keys(dirs).find((p) => src === p || src.startsWith(p + '/'));
      assert.ok(prefix, `COPY --from=${c.from} ${src}: the emulation has that stage's ${src}`);
      from = path.join(dirs[prefix], path.relative(prefix, src));
    }
    const target = intoFolder && !statSync(from).isDirectory() ? path.join(dest, path.basename(from)) : dest;
    mkdirSync(path.dirname(target), { recursive: true });
    cpSync(from, target, { recursive: true, filter: (f) => Boolean(c.from) || sends(path.relative(ROOT, f)) });
  }
}

test('the CPU image, built and run without Docker: its RUN steps verbatim, then serve as uid 10001 on a read-only root, healthy, on RTSP, stopped by SIGTERM', { timeout: 600_000 }, async (t) => {
  if (!existsSync('/usr/bin/ffmpeg')) return t.skip("Debian's ffmpeg (/usr/bin/ffmpeg, the image's FFMPEG_PATH) is not installed: .ci/run installs it");
  const sends = dockerignoreSends(read('Dockerfile.dockerignore'));
  const dir = scratch();
  const root = path.join(dir, 'root'); // the image's /
  const build = path.join(root, 'src');
  const app = path.join(root, 'app');
  mkdirSync(build, { recursive: true });
  mkdirSync(app, { recursive: true });

  // build stage: COPY, and RUN as written, except that `npm ci` (all dependencies, the lock file's
  // exact tree) is the checkout's node_modules, which that same command installed
  for (const ins of stage(cpu, 'build').instructions) {
    if (ins.keyword === 'COPY') copyInto(copies({ ...stage(cpu, 'build'), instructions: [ins] })[0], build, root, {}, sends);
    else if (ins.keyword === 'RUN') {
      if (ins.args.startsWith('npm ci ')) symlinkSync(path.join(ROOT, 'node_modules'), path.join(build, 'node_modules'));
      else sh(ins.args, build);
    }
  }
  assert.ok(existsSync(path.join(build, 'dist/cli.js')) && existsSync(path.join(build, 'dist/web/index.html')), 'npm run build made dist/ and the dashboard');

  // prod stage: every RUN as written (npm ci --omit=dev from the lock file; npm's cache first)
  const stageDirs = { build: { '/src': build }, prod: { '/app': app } };
  for (const ins of stage(cpu, 'prod').instructions) {
    if (ins.keyword === 'COPY') copyInto(copies({ ...stage(cpu, 'prod'), instructions: [ins] })[0], app, root, stageDirs, sends);
    else if (ins.keyword === 'RUN') sh(ins.args, app, { npm_config_prefer_offline: 'true' });
  }
  assert.ok(!existsSync(path.join(app, 'node_modules/typescript')), 'no dev dependencies');
  assert.ok(!existsSync(path.join(app, 'node_modules/@ffmpeg-installer/linux-x64')), 'no static ffmpeg');
  assert.ok(!existsSync(path.join(app, 'node_modules/@tensorflow')), 'TensorFlow.js removed');
  assert.deepEqual(readdirSync(path.join(app, 'node_modules/onnxruntime-node/bin/napi-v6')), ['linux']);
  assert.ok(statSync(path.join(app, 'models/maxim-derain/model.onnx')).size > 50e6, 'maxim-derain built into the image');

  // runtime stage: apt-get and the user are the image's own business; COPYs as written
  const rt = stage(cpu, 'runtime');
  for (const ins of rt.instructions) {
    if (ins.keyword === 'COPY') {
      const c = copies({ ...rt, instructions: [ins] })[0];
      if (c.from === 'prod') continue; // the prod stage's /app is this folder already
      copyInto(c, app, root, stageDirs, sends);
    } else if (ins.keyword === 'RUN') assert.match(ins.args, /^(apt-get update|groupadd )/, `a runtime RUN the emulation skips: ${ins.args}`);
  }
  const models = spawnSync(process.execPath, ['dist/cli.js', 'models', '--json'], { cwd: app, encoding: 'utf8', env: { ...process.env, ...envOf(rt), DERAIN_DEFAULT_MODEL: '' } });
  assert.equal(models.status, 0, models.stderr);
  const list = JSON.parse(models.stdout) as { name: string; ready: boolean; default: boolean }[];
  assert.deepEqual(
    list.filter((m) => m.ready).map((m) => m.name),
    ['builtin-tiny', 'builtin-medium', 'fclip-unet-lite', 'fclip-unet-lite2', 'fclip-unet-lite2-t5', 'maxim-derain'],
  );
  assert.equal(list.find((m) => m.default)?.name, 'fclip-unet-lite2-t5', 'the CPU default');

  // run: ENTRYPOINT + CMD, cwd /app, the image's ENV, uid 10001, root filesystem read-only, /tmp a
  // new tmpfs (the pod's emptyDir), the config of the image (paths under / mapped to the folder)
  const command = [...execForm(rt.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.args), ...execForm(rt.instructions.filter((i) => i.keyword === 'CMD').at(-1)!.args)].map((a) =>
    a.startsWith('/etc/') ? path.join(root, a) : a,
  );
  assert.equal(command[0], '/app/bin/derain');
  const [port, rtspPort] = [await freePort(), await freePort()];
  const env = { PATH: process.env.PATH, HOME: '/nonexistent', ...envOf(rt), DERAIN_HOST: '127.0.0.1', DERAIN_PORT: String(port), DERAIN_RTSP_PORT: String(rtspPort) };
  // (node from PATH, as the image's: the bin execs `node`)
  const asUser = ['setpriv', '--reuid=10001', '--regid=10001', '--clear-groups', '--', path.join(app, 'bin', 'derain'), ...command.slice(1)];
  const readOnly = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -o remount,bind,ro / && mount -t tmpfs tmpfs /tmp && echo ok'], { encoding: 'utf8' });
  const sandboxed = readOnly.status === 0 && readOnly.stdout.trim() === 'ok';
  if (!sandboxed) t.diagnostic(`no mount namespace here (${readOnly.stderr.trim()}): running as uid 10001 without the read-only root`);
  const script = 'mount -o remount,bind,ro / && mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"';
  const child = spawn(sandboxed ? 'unshare' : asUser[0], sandboxed ? ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...asUser] : asUser.slice(1), {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the image to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode}): ${stderr}`);
      return /HTTP http:\/\//.test(stderr);
    },
    60_000,
  );
  await waitFor('/healthz 200', async () => (await getJson(`${base}/healthz`)).status === 200, 60_000);
  // PID 1 is node itself (every step of the entrypoint execs), with the bin's malloc setting
  assert.match(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), /dist\/cli\.js\0serve\0/);
  assert.ok(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0').includes('MALLOC_MMAP_THRESHOLD_=131072'));
  const demo = (await getJson(`${base}/api/streams/demo`)).body;
  assert.equal(demo.model, 'fclip-unet-lite2-t5', JSON.stringify(demo));
  const got = await readRtsp(`rtsp://127.0.0.1:${rtspPort}/demo`, 10, path.join(dir, 'out.mp4'));
  assert.deepEqual(got, { frames: 10, width: 640, height: 360 });
  // the image's HEALTHCHECK command
  const hc = spawnSync(process.execPath, [path.join(app, 'healthcheck.mjs')], { env: { ...process.env, DERAIN_HEALTH_URL: base }, encoding: 'utf8' });
  assert.equal(hc.status, 0, hc.stderr);
  // docker stop: SIGTERM to PID 1
  const t0 = Date.now();
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
  // nothing it tried to write was refused (onnxruntime's telemetry ID: ORT_DISABLE_TELEMETRY)
  assert.doesNotMatch(stderr, /EACCES|EROFS|read-only file system|failed to persist/i);
  t.diagnostic(`ran as uid 10001${sandboxed ? ' on a read-only root with a tmpfs /tmp' : ''}; its log: ${stderr.trim().split('\n').join(' | ')}`);
});
