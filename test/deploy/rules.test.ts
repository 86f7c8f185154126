// The alert rules and the dashboard against Prometheus itself (Debian's prometheus package,
// which ships promtool; .ci/run installs it): `promtool check rules` and `check config`;
// `promtool test rules` with series for each alert (a camera down 30 s fires, 20 s does not,
// ...); and a real Prometheus on loopback scraping a real `derain serve` with a dead camera:
// the camera's alert goes pending, then firing after 30 s, every metric the rules and the
// dashboard name is in the scrape, and every dashboard query runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { stringify } from 'yaml';
import { tmpDir } from '../helpers.ts';
import { freePort, getJson, rtpBase, serveProcess, sleep, waitFor } from '../serve/live-helpers.ts';
import { DEPLOY, ROOT, dashboardExprs, grafanaToPromql, metricNames, readJson, readYaml, ruleExprs, which } from './deploy-helpers.ts';

const RULES = path.join(DEPLOY, 'compose/prometheus/rules.yml');
const PROM_CONFIG = path.join(DEPLOY, 'compose/prometheus/prometheus.yml');
const DASHBOARD = path.join(DEPLOY, 'compose/grafana/dashboards/derain-stream.json');
const rules = readYaml(RULES);
const alerts: Record<string, { expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }> = Object.fromEntries(
  rules.groups.flatMap((g: any) => g.rules.map((r: any) => [r.alert, r])),
);
const ALWAYS_THERE = new Set(['up']); // made by Prometheus itself
const NO_PROMTOOL = !which('promtool') && 'promtool (Debian package prometheus) is not installed: .ci/run installs it';

function promtool(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('promtool: the rules (compose and the PrometheusRule) and the compose Prometheus config are valid', { skip: NO_PROMTOOL }, () => {
  let r = promtool(['check', 'rules', RULES]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 6 rules found/);
  const dir = tmpDir();
  const k8s = readYaml(path.join(DEPLOY, 'k8s/base/prometheusrule.yaml'));
  writeFileSync(path.join(dir, 'k8s-rules.yml'), stringify({ groups: k8s.spec.groups }));
  r = promtool(['check', 'rules', path.join(dir, 'k8s-rules.yml')]);
  assert.equal(r.code, 0, r.out);
  r = promtool(['check', 'config', PROM_CONFIG]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 1 rule files found/);
});

test('every metric the rules and the dashboard name is declared in src/serve/metrics.ts (or is a default process metric)', () => {
  // the PromQL reader this relies on
  assert.deepEqual(metricNames('histogram_quantile(0.95, sum without (model, ep) (rate(derain_inference_seconds_bucket[5m]))) > 1 / rate(derain_frames_ingested_total[5m])'), [
    'derain_inference_seconds_bucket',
    'derain_frames_ingested_total',
  ]);
  assert.deepEqual(metricNames('sum by (stream, reason) (rate(derain_frames_dropped_total{job=~"$job", stream=~"$stream"}[$__rate_interval])) > 0'), ['derain_frames_dropped_total']);
  assert.deepEqual(metricNames('up{job="derain"} == 0 and on(instance) derain_source_up'), ['up', 'derain_source_up']);
  const src = readFileSync(path.join(ROOT, 'src/serve/metrics.ts'), 'utf8');
  const declared = new Set<string>();
  for (const m of src.matchAll(/new (Counter|Gauge|Histogram)\(\{\s*name: '([a-z0-9_:]+)'/g)) {
    if (m[1] === 'Histogram') for (const suffix of ['_bucket', '_sum', '_count']) declared.add(m[2] + suffix);
    else declared.add(m[2]);
  }
  assert.ok(declared.has('derain_source_up') && declared.has('derain_inference_seconds_bucket'), [...declared].join());
  assert.match(src, /collectDefaultMetrics\(/, "prom-client's process metrics are on");
  const defaults = new Set(['process_cpu_seconds_total', 'process_resident_memory_bytes']);
  const dash = readJson(DASHBOARD);
  const used = [...ruleExprs(rules.groups).map((r) => [r.name, r.expr]), ...dashboardExprs(dash).map((p) => [p.panel, p.expr])];
  for (const [where, expr] of used) for (const m of metricNames(expr)) assert.ok(declared.has(m) || defaults.has(m) || ALWAYS_THERE.has(m), `${where}: ${m} is not a metric of derain serve`);
});

// ---- promtool test rules ---------------------------------------------------------------------

const TARGET = { job: 'derain', instance: 'derain:8080' };
const BUCKETS = ['0.005', '0.01', '0.02', '0.04', '0.06', '0.08', '0.12', '0.16', '0.25', '0.5', '1', '2', '5', '+Inf'];

function series(name: string, labels: Record<string, string>, values: string) {
  const l = Object.entries({ ...TARGET, ...labels })
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return { series: `${name}{${l}}`, values };
}

/** Inference histogram series of one stream whose every frame took `seconds` (in the bucket above it), `perStep` frames a 5 s step. */
function inference(stream: string, seconds: number, perStep: number, steps: number) {
  return BUCKETS.map((le) =>
    series('derain_inference_seconds_bucket', { stream, model: 'fclip-unet-lite', ep: 'cpu', le }, le === '+Inf' || Number(le) >= seconds ? `0+${perStep}x${steps}` : `0x${steps}`),
  );
}

/** What promtool must see firing: the series' labels, the rule's labels, its annotations rendered. */
function fires(alert: string, labels: Record<string, string>) {
  const all = { ...labels, ...alerts[alert].labels };
  const render = (t: string) => t.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_m, k: string) => all[k] ?? '');
  assert.doesNotMatch(JSON.stringify(alerts[alert].annotations), /\{\{(?!\s*\$labels\.)/, 'annotations use only $labels (what this test renders)');
  return { exp_labels: all, exp_annotations: Object.fromEntries(Object.entries(alerts[alert].annotations).map(([k, v]) => [k, render(v)])) };
}

const cam = (stream: string) => ({ ...TARGET, stream });

const unitTests = [
  {
    name: 'DerainCameraDown: a camera down 30 s fires; one down 20 s, then back, never does; one up never does',
    interval: '5s',
    input_series: [
      series('derain_source_up', { stream: 'gate' }, '0x30'), // down from the start
      series('derain_source_up', { stream: 'yard' }, '0 0 0 0 0 1x25'), // down 0-20 s, up from 25 s
      series('derain_source_up', { stream: 'lane' }, '1x30'),
    ],
    alert_rule_test: [
      { eval_time: '20s', alertname: 'DerainCameraDown', exp_alerts: [] },
      { eval_time: '25s', alertname: 'DerainCameraDown', exp_alerts: [] },
      { eval_time: '30s', alertname: 'DerainCameraDown', exp_alerts: [fires('DerainCameraDown', cam('gate'))] },
      { eval_time: '2m', alertname: 'DerainCameraDown', exp_alerts: [fires('DerainCameraDown', cam('gate'))] },
    ],
  },
  {
    // (rate() over a window the series has not filled yet reads low: a counter that started at 0 s
    // reads 2/s only from 1 min on, and crosses 1/s at about 35 s, so it fires at about 155 s)
    name: 'DerainFramesDropped: 2 frames/s behind for 2 minutes fires, by reason; 0.4/s of slow clients and 0.8/s do not',
    interval: '5s',
    input_series: [
      series('derain_frames_dropped_total', { stream: 'gate', reason: 'behind' }, '0+10x60'),
      series('derain_frames_dropped_total', { stream: 'gate', reason: 'slow_client' }, '0+2x60'),
      series('derain_frames_dropped_total', { stream: 'yard', reason: 'behind' }, '0+4x60'),
      series('derain_frames_dropped_total', { stream: 'yard', reason: 'encoder_behind' }, '0x60'),
    ],
    alert_rule_test: [
      { eval_time: '110s', alertname: 'DerainFramesDropped', exp_alerts: [] },
      { eval_time: '150s', alertname: 'DerainFramesDropped', exp_alerts: [] },
      { eval_time: '200s', alertname: 'DerainFramesDropped', exp_alerts: [fires('DerainFramesDropped', { ...cam('gate'), reason: 'behind' })] },
    ],
  },
  {
    // (the camera's rate over 5 minutes reads low until the window is full, and its interval long:
    // the alert can start only about 3.5 min after a restart, and fires 2 min later)
    name: 'DerainInferenceSlowerThanCamera: 50 ms frames on a 25 fps camera (40 ms) fire; on a 5 fps camera, or 15 ms frames at 25 fps, do not',
    interval: '5s',
    input_series: [
      series('derain_frames_ingested_total', { stream: 'gate' }, '0+125x120'),
      ...inference('gate', 0.05, 125, 120),
      series('derain_frames_ingested_total', { stream: 'yard' }, '0+25x120'),
      ...inference('yard', 0.05, 25, 120),
      series('derain_frames_ingested_total', { stream: 'lane' }, '0+125x120'),
      ...inference('lane', 0.015, 125, 120),
    ],
    alert_rule_test: [
      { eval_time: '4m', alertname: 'DerainInferenceSlowerThanCamera', exp_alerts: [] },
      { eval_time: '8m', alertname: 'DerainInferenceSlowerThanCamera', exp_alerts: [fires('DerainInferenceSlowerThanCamera', cam('gate'))] },
    ],
  },
  {
    name: 'DerainNoFramesOut: frames in and none out for a minute fires; a dead camera (nothing in) and a working stream do not',
    interval: '5s',
    input_series: [
      series('derain_frames_ingested_total', { stream: 'gate' }, '0+125x40'),
      series('derain_frames_processed_total', { stream: 'gate' }, '0x40'),
      series('derain_frames_ingested_total', { stream: 'yard' }, '0x40'),
      series('derain_frames_processed_total', { stream: 'yard' }, '0x40'),
      series('derain_frames_ingested_total', { stream: 'lane' }, '0+125x40'),
      series('derain_frames_processed_total', { stream: 'lane' }, '0+125x40'),
    ],
    alert_rule_test: [
      { eval_time: '50s', alertname: 'DerainNoFramesOut', exp_alerts: [] },
      { eval_time: '90s', alertname: 'DerainNoFramesOut', exp_alerts: [fires('DerainNoFramesOut', cam('gate'))] },
    ],
  },
  {
    name: 'DerainOutputDown: an output down for a minute fires, per output; one that restarts within 30 s, and a working one, do not',
    interval: '5s',
    input_series: [
      series('derain_output_up', { stream: 'gate', output: 'record' }, '0x30'),
      series('derain_output_up', { stream: 'gate', output: 'rtsp' }, '1 0 0 0 0 0 1x24'),
      series('derain_output_up', { stream: 'yard', output: 'rtsp' }, '1x30'),
    ],
    alert_rule_test: [
      { eval_time: '50s', alertname: 'DerainOutputDown', exp_alerts: [] },
      { eval_time: '70s', alertname: 'DerainOutputDown', exp_alerts: [fires('DerainOutputDown', { ...cam('gate'), output: 'record' })] },
    ],
  },
  {
    name: 'DerainTargetDown: a scrape failing for a minute fires; a working target does not',
    interval: '5s',
    input_series: [
      { series: 'up{job="derain",instance="derain:8080"}', values: '0x30' },
      { series: 'up{job="derain",instance="other:8080"}', values: '1x30' },
      { series: 'up{job="mediamtx",instance="mediamtx:9998"}', values: '0x30' },
    ],
    alert_rule_test: [
      { eval_time: '50s', alertname: 'DerainTargetDown', exp_alerts: [] },
      { eval_time: '70s', alertname: 'DerainTargetDown', exp_alerts: [fires('DerainTargetDown', TARGET)] },
    ],
  },
];

test('promtool test rules: each alert fires on the series it is for, and not on the ones beside them', { skip: NO_PROMTOOL }, () => {
  assert.deepEqual(Object.keys(alerts).sort(), [...new Set(unitTests.flatMap((u) => u.alert_rule_test.map((a) => a.alertname)))].sort(), 'every alert has a unit test');
  const dir = tmpDir();
  const file = path.join(dir, 'rules.test.yml');
  writeFileSync(file, stringify({ rule_files: [RULES], evaluation_interval: '5s', tests: unitTests }));
  const r = promtool(['test', 'rules', file]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
  // and the test does catch a wrong rule: the camera alert with for: 20s fires at 20 s
  const loose = path.join(dir, 'loose.yml');
  writeFileSync(loose, stringify({ groups: [{ name: 'x', rules: [{ ...alerts.DerainCameraDown, alert: 'DerainCameraDown', for: '20s' }] }] }));
  writeFileSync(file, stringify({ rule_files: [loose], evaluation_interval: '5s', tests: [unitTests[0]] }));
  const bad = promtool(['test', 'rules', file]);
  assert.notEqual(bad.code, 0, 'a 20 s window is caught');
  assert.match(bad.out, /alertname: DerainCameraDown, time: 20s/);
});

// ---- a real Prometheus scraping a real derain serve ------------------------------------------

test(
  'a real Prometheus scrapes a real derain serve: the dead camera alert is pending, then firing after 30 s; the dashboard queries run; every metric named exists',
  { skip: !which('prometheus') && 'prometheus (Debian package) is not installed: .ci/run installs it', timeout: 180_000 },
  async (t) => {
    const dir = tmpDir();
    const cfg = path.join(dir, 'serve.yaml');
    const deadPort = await freePort(); // nothing listens there: a camera that is down
    writeFileSync(
      cfg,
      [
        'server: { port: 0 }',
        `rtsp: { port: 0, rtpPortStart: ${rtpBase()}, rtpPortCount: 20 }`,
        'defaults: { model: builtin-tiny, connectTimeout: 2, backoffMax: 2 }',
        'streams:',
        '  - id: demo',
        '    url: demo://rain?size=320x180&fps=10',
        '  - id: cam',
        `    url: rtsp://127.0.0.1:${deadPort}/cam`,
        '',
      ].join('\n'),
    );
    const svc = serveProcess(['-c', cfg]);
    const base = await svc.base();
    await waitFor('the demo stream to be live', async () => (await getJson(`${base}/api/streams/demo`)).body?.state === 'live', 30_000);

    // Prometheus on loopback, the compose deployment's rules, scraping and evaluating every second
    const promPort = await freePort();
    const promDir = path.join(dir, 'prometheus');
    mkdirSync(promDir);
    const promConfig = path.join(promDir, 'prometheus.yml');
    writeFileSync(
      promConfig,
      stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, rule_files: [RULES], scrape_configs: [{ job_name: 'derain', static_configs: [{ targets: [new URL(base).host] }] }] }),
    );
    const prom = spawn('prometheus', [`--config.file=${promConfig}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let promLog = '';
    prom.stderr!.setEncoding('utf8').on('data', (d: string) => (promLog += d));
    const promExited = new Promise<void>((r) => prom.once('close', () => r()));
    after(async () => {
      if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGTERM');
      await promExited;
    });
    const api = `http://127.0.0.1:${promPort}/api/v1`;
    const query = async (q: string) => {
      const r = await getJson(`${api}/query?query=${encodeURIComponent(q)}`);
      return r.body as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    };
    await waitFor(
      'Prometheus to scrape derain serve',
      async () => {
        if (prom.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
        return (await query('up{job="derain"} == 1')).data?.result.length === 1;
      },
      30_000,
      500,
    );

    // the camera alert: watched every half second until it fires
    const seen: { at: number; state: string; activeAt: string }[] = [];
    const camAlert = async () => {
      const r = await getJson(`${api}/alerts`);
      const a = (r.body.data.alerts as any[]).find((x) => x.labels.alertname === 'DerainCameraDown' && x.labels.stream === 'cam');
      if (a) seen.push({ at: Date.now(), state: a.state, activeAt: a.activeAt });
      return a;
    };

    // meanwhile: /healthz is 503 for the dead camera, and the image's healthcheck still says alive
    assert.equal((await getJson(`${base}/healthz`)).status, 503);
    const hc = spawnSync(process.execPath, [path.join(DEPLOY, 'docker/healthcheck.mjs')], { env: { ...process.env, DERAIN_HEALTH_URL: base }, encoding: 'utf8' });
    assert.equal(hc.status, 0, `healthcheck with one camera down: ${hc.stderr}`);

    // every metric the rules and the dashboard name is in the real scrape
    const dash = readJson(DASHBOARD);
    const named = new Map<string, string>();
    for (const { name, expr } of ruleExprs(rules.groups)) for (const m of metricNames(expr)) named.set(m, `rule ${name}`);
    for (const { panel, expr } of dashboardExprs(dash)) for (const m of metricNames(expr)) named.set(m, `panel "${panel}"`);
    for (const v of dash.templating.list.filter((x: any) => x.type === 'query'))
      for (const m of metricNames(v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1'))) named.set(m, `variable ${v.name}`);
    assert.ok(named.size >= 10, [...named.keys()].join());
    const missing = async () => {
      const have = new Set<string>((await getJson(`${api}/label/__name__/values`)).body.data);
      return [...named].filter(([m]) => !ALWAYS_THERE.has(m) && !have.has(m)).map(([m, where]) => `${m} (${where})`);
    };
    await waitFor('every metric named to be scraped', async () => (await missing()).length === 0, 20_000, 500).catch(() => {});
    assert.deepEqual(await missing(), [], 'metrics the rules or the dashboard name that derain serve does not have');

    // every dashboard query runs on Prometheus, and the main ones have data for the demo stream
    await sleep(3000); // rates over 1m need a few samples
    for (const { panel, expr } of dashboardExprs(dash)) {
      const r = await query(grafanaToPromql(expr));
      assert.equal(r.status, 'success', `panel "${panel}": ${expr}: ${r.error}`);
    }
    const fps = await query(grafanaToPromql(dashboardExprs(dash).find((e) => e.panel === 'Frames per second')!.expr));
    assert.ok(Number(fps.data.result.find((s) => s.metric.stream === 'demo')?.value[1]) > 0, `demo frames out: ${JSON.stringify(fps.data.result)}`);
    const up = await query('derain_source_up');
    assert.deepEqual(Object.fromEntries(up.data.result.map((s) => [s.metric.stream, s.value[1]])), { demo: '1', cam: '0' });
    // the dashboard's stream variable would list both streams
    const values = (await getJson(`${api}/label/stream/values?match[]=${encodeURIComponent('derain_source_up{job=~".*"}')}`)).body.data;
    assert.deepEqual([...values].sort(), ['cam', 'demo']);

    const firing = await waitFor('DerainCameraDown to fire for cam', async () => (await camAlert())?.state === 'firing', 60_000, 500);
    assert.ok(firing);
    const pending = seen.filter((s) => s.state === 'pending');
    assert.ok(pending.length > 0, 'it was pending first');
    const activeAt = Date.parse(seen.at(-1)!.activeAt);
    const firedAfter = (seen.find((s) => s.state === 'firing')!.at - activeAt) / 1000;
    assert.ok(firedAfter >= 30, `fired ${firedAfter.toFixed(1)} s after the camera went down`);
    assert.ok(firedAfter < 40, `fired ${firedAfter.toFixed(1)} s after the camera went down`);
    assert.ok(
      pending.some((s) => (s.at - activeAt) / 1000 >= 20),
      'still pending after 20 s down',
    );
    // the live camera has no alert
    const all = (await getJson(`${api}/alerts`)).body.data.alerts as any[];
    assert.deepEqual(
      all.filter((a) => a.labels.stream === 'demo' && a.labels.alertname === 'DerainCameraDown'),
      [],
    );
    t.diagnostic(
      `DerainCameraDown{stream="cam"} pending at ${new Date(activeAt).toISOString()}, firing ${firedAfter.toFixed(1)} s later; alerts now: ${all.map((a) => `${a.labels.alertname}{${a.labels.stream ?? ''}}=${a.state}`).join(', ')}`,
    );
    const { code } = await svc.signal('SIGTERM');
    assert.equal(code, 0, svc.stderr());
  },
);
