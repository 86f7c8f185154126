// deploy/k8s: the kustomize base and the GPU overlay, rendered by `kubectl kustomize` where a
// kubectl with kustomize 5 is installed (no cluster here, so nothing is applied), and checked the
// way a cluster would use them: selectors that select, ports and probes that name what exists,
// the camera shards (one serve config per pod ordinal, each loaded by serve's own config loader,
// no camera in two shards, as many shards as replicas), the image's user and files, the
// ServiceMonitor's Service and port, and the PrometheusRule equal to the compose rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/serve/config.ts';
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

/** Writes a shard file of the ConfigMap where serve would read it, and loads it. */
function loadShard(dir: string, name: string, text: string, env: Record<string, string> = SECRET_ENV) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig(file, env);
}

const cpuImage = parseDockerfile(readFileSync(path.join(DEPLOY, 'docker/Dockerfile'), 'utf8'));
const runtime = stage(cpuImage, 'runtime');

test('sources: as many shard files as replicas, numbered from 0, each a serve config, no camera in two shards', () => {
  const kz = readYaml(path.join(K8S, 'base/kustomization.yaml'));
  const sts = readYaml(path.join(K8S, 'base/statefulset.yaml'));
  const shardFiles: string[] = kz.configMapGenerator.find((g: any) => g.name === 'derain-shards').files;
  assert.deepEqual(
    shardFiles,
    Array.from({ length: sts.spec.replicas }, (_x, i) => `shards/shard-${i}.yaml`),
  );
  const dir = tmpDir();
  const owner = new Map<string, number>();
  shardFiles.forEach((f, i) => {
    const cfg = loadShard(dir, path.basename(f), readFileSync(path.join(K8S, 'base', f), 'utf8'));
    assert.equal(cfg.server.host, '0.0.0.0');
    assert.equal(cfg.server.token, SECRET_ENV.DERAIN_TOKEN, 'a token (from the Secret)');
    for (const s of cfg.streams) {
      assert.ok(!owner.has(s.id), `stream ${s.id} is in shard ${owner.get(s.id)} and shard ${i}`);
      owner.set(s.id, i);
    }
    assert.ok(cfg.streams.length > 0, `shard ${i} has cameras`);
  });
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
  // serve -c /etc/derain/shards/shard-$(SHARD).yaml, SHARD = the pod's ordinal (its pod-index label)
  assert.equal(c.command, undefined, "the image's ENTRYPOINT, node dist/cli.js");
  assert.deepEqual(execForm(runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.args), ['node', 'dist/cli.js']);
  assert.deepEqual(c.args, ['serve', '-c', '/etc/derain/shards/shard-$(SHARD).yaml']);
  assert.deepEqual(c.env.find((e: any) => e.name === 'SHARD').valueFrom, { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } });
  const shardsMount = c.volumeMounts.find((m: any) => m.mountPath === '/etc/derain/shards');
  const shardsVolume = pod.spec.volumes.find((v: any) => v.name === shardsMount.name);
  const cm = one(objs, 'ConfigMap', shardsVolume.configMap.name); // the generated (hashed) name
  assert.match(cm.metadata.name, /^derain-shards-[a-z0-9]{10}$/);
  const keys = Object.keys(cm.data).sort();
  assert.deepEqual(
    keys,
    Array.from({ length: sts.spec.replicas }, (_x, i) => `shard-${i}.yaml`),
    'a shard for every ordinal',
  );
  const dir = tmpDir();
  const httpPort = c.ports.find((p: any) => p.name === 'http').containerPort;
  for (const k of keys) {
    const cfg = loadShard(dir, k, cm.data[k]);
    assert.equal(cfg.server.port, httpPort, `${k}: serve listens on the container's http port`);
    if (cfg.rtsp.kind === 'embedded') assert.equal(cfg.rtsp.port, c.ports.find((p: any) => p.name === 'rtsp').containerPort);
  }
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
  assert.ok(
    c.env.some((e: any) => e.name === 'SHARD'),
    "the base's env is kept",
  );
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 600, 'room for a TensorRT engine build');
  assert.deepEqual(c.startupProbe.exec, base.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers[0].startupProbe.exec, 'the probe command is kept');
  assert.ok(
    one(gpu, 'StatefulSet').spec.template.spec.tolerations.some((t: any) => t.key === 'nvidia.com/gpu'),
    'tolerates GPU nodes',
  );
  // the shards load with ep cuda up to the one check this machine cannot pass: a GPU build of onnxruntime
  const dir = tmpDir();
  mkdirSync(path.join(dir, 'gpu'));
  const cm = one(gpu, 'ConfigMap');
  for (const [k, text] of Object.entries<string>(cm.data))
    assert.throws(() => loadShard(path.join(dir, 'gpu'), k, text, { ...SECRET_ENV, DERAIN_EP: 'cuda' }), /\.ep: execution provider cuda is not available: cuda: provider not installed/);
  // the rest is the base's
  const strip = (objs: any[]) => objs.filter((o) => o.kind !== 'StatefulSet');
  assert.deepEqual(strip(gpu), strip(base));
  assert.ok(readFileSync(path.join(ROOT, 'deploy/docker/Dockerfile.cuda'), 'utf8').includes('ONNXRUNTIME_NODE_INSTALL=cuda12'));
});
