// deploy/k8s: the kustomize base and the GPU overlay, rendered by `kubectl kustomize` where a
// kubectl with kustomize 5 is installed (no cluster here, so nothing is applied), and checked the
// way a cluster would use them: selectors that select, ports and probes that name what exists,
// the camera shards (one serve config for every pod, loaded by serve's own config loader, each pod
// told as many shards as there are replicas, so every camera is on exactly one pod), the image's user and files, the
// ServiceMonitor's Service and port, and the PrometheusRule equal to the compose rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type ServeConfig } from '../../src/serve/config.ts';
import { shardConfig, shardFromHostname } from '../../src/serve/shard.ts';
import { tmpDir } from '../helpers.ts';
import { DEPLOY, ROOT, execForm, parseDockerfile, readYaml, readYamlDocs, stage, which } from './deploy-helpers.ts';

const K8S = path.join(DEPLOY, 'k8s');
const SECRET_ENV = { DERAIN_TOKEN: 'test-token' };

/** kubectl's kustomize, when this kubectl has kustomize 5 (Debian's kubectl 1.20 has kustomize 2, which reads another format). */
function kustomizeVersion(): string | null {
  if (!which('kubectl')) return null;
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const m = /Kustomize Version: v(\d+)\.\S+/.exec(r.stdout);
  return m && Number(m[1]) >= 5 ? m[0] : null;
}
const KUSTOMIZE = kustomizeVersion();
const NO_KUSTOMIZE = !KUSTOMIZE && 'kubectl with kustomize 5 is not installed: the rendered manifests are not checked (the sources are, below)';

function render(dir: string): any[] {
  const r = spawnSync('kubectl', ['kustomize', path.join(K8S, dir)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readYamlDocs(r.stdout, dir).filter(Boolean);
}

const one = (objs: any[], kind: string, name?: string) => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0];
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Writes a config file of the ConfigMap where serve would read it, and loads it. */
function loadFrom(dir: string, name: string, text: string, env: Record<string, string> = SECRET_ENV) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig(file, env);
}

const ARGS = ['serve', '-c', '/etc/derain/serve.yaml', '--shard-from-hostname', '$(SHARDS)'];

/**
 * What the StatefulSet's pods serve: each pod, by its host name (<name>-<ordinal>), takes its
 * shard of the config; every camera is on exactly one pod and a pod beyond SHARDS would refuse to start.
 */
function checkShards(sts: any, c: any, cfg: ServeConfig) {
  assert.deepEqual(c.args, ARGS);
  const shards = c.env.find((e: any) => e.name === 'SHARDS');
  assert.equal(shards.value, String(sts.spec.replicas), 'SHARDS = replicas');
  const owner = new Map<string, number>();
  for (let i = 0; i < sts.spec.replicas; i++) {
    const shard = shardFromHostname(shards.value, `${sts.metadata.name}-${i}`);
    assert.deepEqual(shard, { index: i, count: sts.spec.replicas });
    const mine = shardConfig(cfg, shard).streams;
    for (const s of mine) {
      assert.ok(!owner.has(s.id), `stream ${s.id} is on pod ${owner.get(s.id)} and pod ${i}`);
      owner.set(s.id, i);
    }
    assert.ok(mine.length > 0, `pod ${i} has cameras (a fresh install shows one on every pod)`);
  }
  assert.deepEqual([...owner.keys()].sort(), cfg.streams.map((s) => s.id).sort(), 'every camera on a pod');
  assert.throws(() => shardFromHostname(shards.value, `${sts.metadata.name}-${sts.spec.replicas}`), /only \d+ shards/);
}

const cpuImage = parseDockerfile(readFileSync(path.join(DEPLOY, 'docker/Dockerfile'), 'utf8'));
const runtime = stage(cpuImage, 'runtime');

test('sources: one serve config for every pod, loaded as serve loads it; SHARDS = replicas, every camera on exactly one pod', () => {
  const kz = readYaml(path.join(K8S, 'base/kustomization.yaml'));
  const sts = readYaml(path.join(K8S, 'base/statefulset.yaml'));
  assert.deepEqual(kz.configMapGenerator.find((g: any) => g.name === 'derain-config').files, ['serve.yaml']);
  const cfg = loadConfig(path.join(K8S, 'base/serve.yaml'), SECRET_ENV);
  assert.equal(cfg.server.host, '0.0.0.0');
  assert.equal(cfg.server.token, SECRET_ENV.DERAIN_TOKEN, 'a token (from the Secret)');
  checkShards(sts, sts.spec.template.spec.containers[0], cfg);
  // the same rules in the PrometheusRule as in compose
  const rule = readYaml(path.join(K8S, 'base/prometheusrule.yaml'));
  assert.deepEqual(rule.spec.groups, readYaml(path.join(DEPLOY, 'compose/prometheus/rules.yml')).groups);
});

test('base, rendered: namespace, selectors, ports, probes, the non-root read-only pod, the camera shards, monitoring', { skip: NO_KUSTOMIZE }, (t) => {
  t.diagnostic(KUSTOMIZE!);
  const objs = render('base');
  assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'Namespace', 'PrometheusRule', 'Service', 'Service', 'ServiceMonitor', 'StatefulSet']);
  for (const o of objs) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'derain', `${o.kind} ${o.metadata.name}`);
  for (const o of objs) assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'derain-stream', `${o.kind} labelled`);

  const sts = one(objs, 'StatefulSet');
  const pod = sts.spec.template;
  assert.ok(matches(sts.spec.selector.matchLabels, pod.metadata.labels), 'the StatefulSet selects its pods');
  const headless = one(objs, 'Service', sts.spec.serviceName);
  assert.equal(headless.spec.clusterIP, 'None', 'serviceName is a headless Service');
  assert.equal(sts.spec.podManagementPolicy, 'Parallel');

  const [c] = pod.spec.containers;
  assert.equal(pod.spec.containers.length, 1);
  assert.equal(c.image, 'derain-stream:latest');
  // serve -c /etc/derain/serve.yaml --shard-from-hostname $(SHARDS): the pod's ordinal from its host name
  assert.equal(c.command, undefined, "the image's ENTRYPOINT, bin/derain (node dist/cli.js)");
  assert.deepEqual(execForm(runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.args), ['/app/bin/derain']);
  const configMount = c.volumeMounts.find((m: any) => m.mountPath === '/etc/derain');
  const configVolume = pod.spec.volumes.find((v: any) => v.name === configMount.name);
  const cm = one(objs, 'ConfigMap', configVolume.configMap.name); // the generated (hashed) name
  assert.match(cm.metadata.name, /^derain-config-[a-z0-9]{10}$/);
  assert.deepEqual(Object.keys(cm.data), ['serve.yaml'], "the file -c names, in the volume's folder");
  const cfg = loadFrom(tmpDir(), 'serve.yaml', cm.data['serve.yaml']);
  assert.equal(cfg.server.port, c.ports.find((p: any) => p.name === 'http').containerPort, "serve listens on the container's http port");
  if (cfg.rtsp.kind === 'embedded') assert.equal(cfg.rtsp.port, c.ports.find((p: any) => p.name === 'rtsp').containerPort);
  checkShards(sts, c, cfg);
  assert.deepEqual(c.envFrom, [{ secretRef: { name: 'derain-secrets' } }]);

  // probes: the image's healthcheck (alive = HTTP answers), never /healthz's 200
  const healthcheck = execForm(runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    assert.deepEqual(c[probe].exec?.command, healthcheck, `${probe} runs the image's healthcheck`);
    assert.equal(c[probe].httpGet, undefined);
  }
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 120, 'at least 2 minutes to load the model');

  // non-root as the image's user, read-only root, /tmp writable
  const [uid, gid] = runtime.instructions
    .filter((i) => i.keyword === 'USER')
    .at(-1)!
    .args.split(':')
    .map(Number);
  assert.deepEqual([pod.spec.securityContext.runAsUser, pod.spec.securityContext.runAsGroup], [uid, gid]);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  const tmp = c.volumeMounts.find((m: any) => m.mountPath === '/tmp');
  assert.ok(pod.spec.volumes.find((v: any) => v.name === tmp.name).emptyDir, '/tmp is an emptyDir');
  for (const m of c.volumeMounts)
    assert.ok(
      pod.spec.volumes.some((v: any) => v.name === m.name),
      `volume ${m.name}`,
    );
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, 'resources');
  assert.ok(pod.spec.terminationGracePeriodSeconds > 5, 'serve stops within 5 s');

  // Services select the pods and name ports the container has; the ServiceMonitor scrapes one of them
  const services = objs.filter((o) => o.kind === 'Service');
  for (const s of services) {
    assert.ok(matches(s.spec.selector, pod.metadata.labels), `${s.metadata.name} selects the pods`);
    for (const p of s.spec.ports)
      assert.ok(
        c.ports.some((cp: any) => cp.name === p.targetPort),
        `${s.metadata.name}: targetPort ${p.targetPort}`,
      );
  }
  assert.equal(headless.spec.publishNotReadyAddresses, true);
  const sm = one(objs, 'ServiceMonitor');
  const scraped = services.filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
  assert.deepEqual(
    scraped.map((s) => s.metadata.name),
    ['derain'],
    'one Service scraped (each pod once)',
  );
  assert.equal(sm.spec.endpoints[0].path, '/metrics');
  assert.ok(scraped[0].spec.ports.some((p: any) => p.name === sm.spec.endpoints[0].port));
  // DerainTargetDown names job="derain": the Prometheus Operator's job label is the Service's name
  const rule = one(objs, 'PrometheusRule');
  assert.ok(rule.spec.groups[0].rules.find((r: any) => r.alert === 'DerainTargetDown').expr.includes(`job="${scraped[0].metadata.name}"`));
  assert.deepEqual(rule.spec.groups, readYaml(path.join(DEPLOY, 'compose/prometheus/rules.yml')).groups);
});

test('gpu overlay, rendered: the CUDA image, nvidia.com/gpu: 1, ep cuda; everything else as the base', { skip: NO_KUSTOMIZE }, () => {
  const base = render('base');
  const gpu = render('overlays/gpu');
  const c = one(gpu, 'StatefulSet').spec.template.spec.containers[0];
  assert.equal(c.image, 'derain-stream:cuda');
  assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
  assert.deepEqual(
    c.env.find((e: any) => e.name === 'DERAIN_EP'),
    { name: 'DERAIN_EP', value: 'cuda' },
  );
  checkShards(one(gpu, 'StatefulSet'), c, loadConfig(path.join(K8S, 'base/serve.yaml'), SECRET_ENV)); // the base's args and SHARDS are kept
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 600, 'room for a TensorRT engine build');
  assert.deepEqual(c.startupProbe.exec, base.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers[0].startupProbe.exec, 'the probe command is kept');
  assert.ok(
    one(gpu, 'StatefulSet').spec.template.spec.tolerations.some((t: any) => t.key === 'nvidia.com/gpu'),
    'tolerates GPU nodes',
  );
  // the config loads with ep cuda up to the one check this machine cannot pass: a GPU build of onnxruntime
  const text = one(gpu, 'ConfigMap').data['serve.yaml'];
  assert.throws(() => loadFrom(tmpDir(), 'serve.yaml', text, { ...SECRET_ENV, DERAIN_EP: 'cuda' }), /\.ep: execution provider cuda is not available: cuda: provider not installed/);
  // the rest is the base's
  const strip = (objs: any[]) => objs.filter((o) => o.kind !== 'StatefulSet');
  assert.deepEqual(strip(gpu), strip(base));
  assert.ok(readFileSync(path.join(ROOT, 'deploy/docker/Dockerfile.cuda'), 'utf8').includes('ONNXRUNTIME_NODE_INSTALL=cuda12'));
});
