// deploy/compose: every YAML and JSON parses; the services' files exist; the variables the files
// name are the ones .env.example sets; serve.yaml loads through serve's own config loader (CPU,
// and the GPU override's ep: cuda, refused here for the one reason that there is no GPU build of
// onnxruntime); MediaMTX's accounts are the ones derain publishes with; Grafana's provisioning
// points at the dashboard and its data source. With docker-compose installed (Debian's, 1.29:
// .ci/run installs it), `docker-compose config` validates and merges both files. No Docker
// engine runs here, so nothing is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/serve/config.ts';
import { DEPLOY, ROOT, readJson, readYaml, readYamlDocs, which } from './deploy-helpers.ts';

const DIR = path.join(DEPLOY, 'compose');
const compose = readYaml(path.join(DIR, 'docker-compose.yml'));
const gpu = readYaml(path.join(DIR, 'compose.gpu.yml'));
const envExample = parseEnv(readFileSync(path.join(DIR, '.env.example'), 'utf8')) as Record<string, string>;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(path.join(dir, f)).isDirectory() ? files(path.join(dir, f)) : [path.join(dir, f)]));
}

/** ${NAME}, ${NAME:-x}, ${NAME:?msg} in a text (YAML comments left out). */
function variables(text: string): Set<string> {
  const live = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .map((l) => l.replace(/\s+#.*$/, ''))
    .join('\n');
  return new Set([...live.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}/g)].map((m) => m[1]));
}

test('every YAML and JSON file of deploy/ parses (no duplicate keys)', () => {
  const all = files(DEPLOY);
  const yamls = all.filter((f) => /\.ya?ml$/.test(f));
  assert.ok(yamls.length >= 18, `${yamls.length} YAML files`);
  for (const f of yamls) {
    const text = readFileSync(f, 'utf8');
    if (/^---$/m.test(text)) assert.ok(readYamlDocs(text, f).length > 1, f);
    else assert.doesNotThrow(() => readYaml(f), f);
  }
  for (const f of all.filter((x) => x.endsWith('.json'))) assert.doesNotThrow(() => readJson(f), f);
});

test('docker-compose.yml: the services, their images and build, ports, and every file they mount exists', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['derain', 'grafana', 'mediamtx', 'prometheus']);
  const d = compose.services.derain;
  assert.equal(d.build.dockerfile, 'deploy/docker/Dockerfile');
  assert.equal(path.resolve(DIR, d.build.context), ROOT);
  assert.ok(existsSync(path.join(ROOT, d.build.dockerfile)));
  assert.match(compose.services.mediamtx.image, /^bluenviron\/mediamtx:\d+\.\d+\.\d+$/);
  assert.match(compose.services.prometheus.image, /^prom\/prometheus:v2\.\d+\.\d+$/);
  assert.match(compose.services.grafana.image, /^grafana\/grafana:\d+\.\d+\.\d+$/);
  for (const [name, svc] of Object.entries<any>(compose.services)) {
    for (const v of svc.volumes ?? []) {
      const [src, target] = String(v).split(':');
      if (src.startsWith('.')) assert.ok(existsSync(path.join(DIR, src)), `${name}: ${src} exists`);
      else assert.ok(src in compose.volumes, `${name}: named volume ${src} is declared`);
      assert.ok(target.startsWith('/'), `${name}: ${target}`);
    }
    for (const p of svc.ports ?? []) assert.match(String(p), /^(127\.0\.0\.1:)?\d+:\d+(\/udp)?$/, `${name}: port ${p}`);
  }
  assert.deepEqual(d.ports, ['8080:8080']);
  assert.ok(d.volumes.includes('./serve.yaml:/etc/derain/serve.yaml:ro'), 'the config where the image reads it');
  assert.ok(compose.services.mediamtx.ports.includes('8554:8554'));
  assert.deepEqual(compose.services.prometheus.ports, ['127.0.0.1:9090:9090'], 'Prometheus has no authentication: this host only');
  // the mounted config files are where the images read them
  assert.ok(compose.services.mediamtx.volumes.includes('./mediamtx.yml:/mediamtx.yml:ro'));
  assert.ok(compose.services.prometheus.command.includes('--config.file=/etc/prometheus/prometheus.yml'));
  const prom = readYaml(path.join(DIR, 'prometheus/prometheus.yml'));
  for (const rf of prom.rule_files)
    assert.ok(
      compose.services.prometheus.volumes.some((v: string) => v.endsWith(`:/etc/prometheus/${rf}:ro`)),
      `${rf} is mounted beside prometheus.yml`,
    );
  // the scrape targets are the services, on the ports they listen on
  const targets = prom.scrape_configs.flatMap((s: any) => s.static_configs.flatMap((c: any) => c.targets));
  assert.deepEqual(targets, ['derain:8080', 'mediamtx:9998']);
  assert.equal(readYaml(path.join(DIR, 'mediamtx.yml')).metricsAddress, ':9998');
});

test('compose.gpu.yml: the CUDA image, an NVIDIA GPU reserved, the CUDA provider asked for', () => {
  const d = gpu.services.derain;
  assert.equal(d.build.dockerfile, 'deploy/docker/Dockerfile.cuda');
  assert.ok(existsSync(path.join(ROOT, d.build.dockerfile)));
  assert.deepEqual(d.deploy.resources.reservations.devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
  assert.equal(d.environment.DERAIN_EP, 'cuda');
});

test('the variables: what the compose files and configs name, .env.example sets, and derain gets what serve.yaml names', () => {
  const composeVars = new Set([...variables(readFileSync(path.join(DIR, 'docker-compose.yml'), 'utf8')), ...variables(readFileSync(path.join(DIR, 'compose.gpu.yml'), 'utf8'))]);
  for (const v of composeVars) assert.ok(v in envExample, `${v} is in .env.example`);
  for (const v of Object.keys(envExample)) assert.ok(composeVars.has(v), `.env.example's ${v} is used`);
  // every variable serve.yaml needs reaches the derain container (those with a default may be left out)
  const serveText = readFileSync(path.join(DIR, 'serve.yaml'), 'utf8');
  const withDefault = new Set([...serveText.matchAll(/\$\{(\w+):-/g)].map((m) => m[1]));
  const passed = new Set([...Object.keys(compose.services.derain.environment), ...Object.keys(gpu.services.derain.environment)]);
  for (const v of variables(serveText)) assert.ok(passed.has(v) || withDefault.has(v), `serve.yaml's ${v} is in derain's environment`);
  // MediaMTX's accounts: the first publishes (what derain pushes with), the second reads
  const mtx = compose.services.mediamtx.environment;
  assert.equal(mtx.MTX_AUTHINTERNALUSERS_0_USER, compose.services.derain.environment.MTX_PUBLISH_USER);
  assert.equal(mtx.MTX_AUTHINTERNALUSERS_0_PASS, compose.services.derain.environment.MTX_PUBLISH_PASS);
  const users = readYaml(path.join(DIR, 'mediamtx.yml')).authInternalUsers;
  assert.deepEqual(
    users[0].permissions.map((p: any) => p.action),
    ['publish', 'read'],
  );
  assert.deepEqual(
    users[1].permissions.map((p: any) => p.action),
    ['read', 'playback'],
  );
  assert.ok(
    users.every((u: any) => u.user !== 'any' || !u.permissions.some((p: any) => ['publish', 'read'].includes(p.action))),
    'no anonymous publishing or reading',
  );
});

test("serve.yaml loads through serve's config loader with .env.example's values: pushed to MediaMTX over TCP", () => {
  const file = path.join(DIR, 'serve.yaml');
  const cfg = loadConfig(file, envExample);
  assert.equal(cfg.server.host, '0.0.0.0');
  assert.equal(cfg.server.port, 8080);
  assert.equal(cfg.server.token, envExample.DERAIN_TOKEN);
  assert.deepEqual(cfg.rtsp, { kind: 'external', url: `rtsp://${envExample.MTX_PUBLISH_USER}:${envExample.MTX_PUBLISH_PASS}@mediamtx:8554`, transport: 'tcp' });
  assert.deepEqual(
    cfg.streams.map((s) => [s.id, s.ep]),
    [['demo', 'auto']],
  );
  // the GPU override's ep: cuda is refused here, by name, for the one reason that onnxruntime's
  // CUDA provider is not installed (it is, in the CUDA image): everything else in the file is valid
  assert.throws(() => loadConfig(file, { ...envExample, DERAIN_EP: 'cuda' }), /streams\[0\]\.ep: execution provider cuda is not available: cuda: provider not installed/);
  // without the token the service refuses to start, naming it
  const { DERAIN_TOKEN: _t, ...noToken } = envExample;
  assert.throws(() => loadConfig(file, noToken), /server\.token: environment variable DERAIN_TOKEN is not set/);
});

test('Grafana: the provisioned data source and dashboard folder are what the dashboard and compose use', () => {
  const ds = readYaml(path.join(DIR, 'grafana/provisioning/datasources/prometheus.yml')).datasources;
  assert.equal(ds.length, 1);
  assert.equal(ds[0].type, 'prometheus');
  assert.equal(ds[0].url, 'http://prometheus:9090');
  assert.equal(ds[0].isDefault, true);
  const provider = readYaml(path.join(DIR, 'grafana/provisioning/dashboards/derain-stream.yml')).providers[0];
  assert.ok(compose.services.grafana.volumes.includes(`./grafana/dashboards:${provider.options.path}:ro`), 'the dashboards folder is mounted where the provider reads');
  assert.ok(compose.services.grafana.volumes.includes('./grafana/provisioning:/etc/grafana/provisioning:ro'));
  const home = compose.services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  assert.ok(existsSync(path.join(DIR, 'grafana/dashboards', path.relative(provider.options.path, home))), home);

  const dash = readJson(path.join(DIR, 'grafana/dashboards/derain-stream.json'));
  assert.equal(dash.uid, 'derain-stream');
  const titles = dash.panels.map((p: any) => p.title);
  for (const want of ['Frames per second', 'End-to-end latency (decode to outputs)', 'Inference per frame', 'Dropped frames by reason', 'Camera up', 'Camera reconnects'])
    assert.ok(titles.includes(want), want);
  const vars = dash.templating.list.map((v: any) => v.name);
  assert.deepEqual(vars, ['datasource', 'job', 'stream']);
  for (const p of dash.panels) {
    assert.equal(p.datasource.uid, '${datasource}', `${p.title}: the data source variable`);
    assert.ok(p.targets.length > 0, p.title);
    for (const t of p.targets) {
      assert.equal(t.datasource.uid, '${datasource}');
      if (!p.title.startsWith('Process')) assert.match(t.expr, /stream=~"\$stream"/, `${p.title}: per stream`);
      if (!p.title.startsWith('Process')) assert.match(t.legendFormat, /\{\{stream\}\}/, `${p.title}: one series per stream`);
    }
  }
  const unit = (title: string) => dash.panels.find((p: any) => p.title === title).fieldConfig.defaults.unit;
  assert.equal(unit('Inference per frame'), 'ms');
  assert.match(dash.panels.find((p: any) => p.title === 'Inference per frame').targets[0].expr, /\* 1000$/);
  assert.equal(unit('End-to-end latency (decode to outputs)'), 's');
  // no panel overlaps another
  const cells = new Set<string>();
  for (const p of dash.panels)
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps`);
        cells.add(`${x},${y}`);
      }
});

test('docker-compose config: both files validate and merge (Debian docker-compose 1.29)', { skip: !which('docker-compose') && 'docker-compose is not installed: .ci/run installs it' }, () => {
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync('docker-compose', ['--project-directory', DIR, ...args, 'config'], { cwd: DIR, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
  let r = run(['-f', 'docker-compose.yml'], envExample);
  assert.equal(r.status, 0, r.stderr);
  const cpu = parseYaml(r.stdout);
  assert.equal(cpu.services.derain.build.dockerfile, 'deploy/docker/Dockerfile');
  assert.equal(cpu.services.derain.environment.DERAIN_TOKEN, envExample.DERAIN_TOKEN);
  r = run(['-f', 'docker-compose.yml', '-f', 'compose.gpu.yml'], envExample);
  assert.equal(r.status, 0, r.stderr);
  const merged = parseYaml(r.stdout);
  assert.equal(merged.services.derain.build.dockerfile, 'deploy/docker/Dockerfile.cuda');
  assert.equal(merged.services.derain.image, 'derain-stream:cuda');
  assert.equal(merged.services.derain.environment.DERAIN_EP, 'cuda');
  assert.equal(merged.services.derain.environment.DERAIN_TOKEN, envExample.DERAIN_TOKEN, 'the base environment is kept');
  assert.deepEqual(merged.services.derain.deploy.resources.reservations.devices[0].capabilities, ['gpu']);
  // a missing secret stops compose, naming it
  const { MTX_READ_PASS: _p, ...partial } = envExample;
  r = run(['-f', 'docker-compose.yml'], partial);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /set MTX_READ_PASS in \.env/);
});
