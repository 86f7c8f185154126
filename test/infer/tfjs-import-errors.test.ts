// Bad TensorFlow.js models: one clear error each, naming the file, the shard, the op or the node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../../src/infer/errors.ts';
import { readGraphModel } from '../../src/infer/tfjs/graph-model.ts';
import { importTfjsModel } from '../../src/infer/tfjs/import-model.ts';
import { attr, buildModelJson, randn, t, toOnnx, type GraphSpec } from './tfjs-harness.ts';
import { derain, makeClip, tmpDir } from '../helpers.ts';

const dir = tmpDir();
const F = { T: attr.type('float32') };

const tiny: GraphSpec = {
  inputs: { x: randn([1, 4, 4, 3]) },
  consts: { w: randn([1, 1, 3, 3]) },
  nodes: [{ name: 'y', op: 'Conv2D', inputs: ['x', 'w'], attr: { ...F, padding: attr.s('VALID'), strides: attr.ints([1, 1, 1, 1]), data_format: attr.s('NHWC') } }],
  outputs: ['y'],
};

/** Writes a model folder (model.json + one shard) and lets the test break it. */
function writeModel(name: string, spec: GraphSpec = tiny, edit?: (json: Record<string, unknown>, shard: Uint8Array) => Uint8Array | void): string {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  const { json, weightData } = buildModelJson(spec);
  let shard: Uint8Array = new Uint8Array(weightData);
  shard = edit?.(json as Record<string, unknown>, shard) ?? shard;
  writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
  writeFileSync(path.join(folder, 'group1-shard1of1.bin'), shard);
  return folder;
}

function throwsUser(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelError, `a ModelError (the CLI's exit 2), not ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('a good tiny model imports (the baseline the broken ones differ from)', () => {
  const out = path.join(dir, 'good.onnx');
  const r = importTfjsModel(path.join(writeModel('good'), 'model.json'), out);
  assert.ok(r.bytes > 0 && r.nodes > 0);
});

test('missing model.json', () => {
  throwsUser(() => readGraphModel(path.join(dir, 'nowhere')), /TensorFlow\.js model .*nowhere.*model\.json is missing/);
});

test('model.json that is not JSON', () => {
  const folder = writeModel('notjson');
  writeFileSync(path.join(folder, 'model.json'), '{"format": "graph-model", "modelTop');
  throwsUser(() => readGraphModel(folder), /model\.json is not valid JSON/);
});

test('JSON that is not a graph model (a layers model, say)', () => {
  const folder = writeModel('layers');
  writeFileSync(path.join(folder, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential' }, weightsManifest: [] }));
  throwsUser(() => readGraphModel(folder), /is not a TensorFlow\.js graph model \(it has no modelTopology\.node list\)/);
});

test('a missing weight shard is named', () => {
  const folder = writeModel('noshard', tiny, (json) => {
    (json.weightsManifest as { paths: string[] }[])[0].paths = ['group1-shard1of2.bin'];
  });
  throwsUser(() => readGraphModel(folder), /weight shard .*group1-shard1of2\.bin \(listed in .*model\.json\) is missing/);
});

test('a truncated weight shard', () => {
  const folder = writeModel('truncated', tiny, (_, shard) => shard.subarray(0, shard.length - 8));
  throwsUser(() => readGraphModel(folder), /the weight shards group1-shard1of1\.bin hold 28 bytes but the manifest describes 36 \(a truncated or corrupt shard\?\)/);
});

test('a Const without a weight', () => {
  const folder = writeModel('noweight', tiny, (json) => {
    (json.weightsManifest as { weights: { name: string }[] }[])[0].weights[0].name = 'renamed';
  });
  throwsUser(() => importTfjsModel(path.join(folder, 'model.json'), path.join(dir, 'x.onnx')), /Const node w has no entry in the weights manifest/);
});

test('an unsupported op names the op and the node', () => {
  const spec: GraphSpec = { ...tiny, nodes: [...tiny.nodes, { name: 'blk/cum', op: 'Cumsum', inputs: ['y', 'w'], attr: F }], outputs: ['blk/cum'] };
  throwsUser(() => toOnnx(spec), /cannot import test graph: unsupported op Cumsum \(node blk\/cum\)/);
});

test('unsupported forms of supported ops name the node and what is wrong', () => {
  const einsum: GraphSpec = {
    inputs: { a: randn([2, 3, 4]), b: randn([2, 4, 5]) },
    nodes: [{ name: 'bmm', op: 'Einsum', inputs: ['a', 'b'], attr: { ...F, N: attr.i(2), equation: attr.s('bij,bjk->bik') } }],
    outputs: ['bmm'],
  };
  throwsUser(() => toOnnx(einsum), /Einsum node bmm: equation bij,bjk->bik: batch indices .* are not supported/);
  const perm: GraphSpec = { inputs: { x: randn([2, 3]), p: { ...t('int32', [2], [1, 0]), static: true } }, nodes: [{ name: 'tr', op: 'Transpose', inputs: ['x', 'p'], attr: F }], outputs: ['tr'] };
  throwsUser(() => toOnnx(perm), /Transpose node tr: its perm \(input 1\) must be a constant; it is computed at run time/);
});

test('derain models import: a card whose model.json is corrupt fails in one line, exit 2', async () => {
  const folder = writeModel('cli-corrupt');
  writeFileSync(path.join(folder, 'model.json'), 'not json at all');
  writeFileSync(path.join(folder, 'card.json'), JSON.stringify({ name: 'broken', output: 'image', sizeMultiple: 4, import: { tfjs: 'model.json' } }));
  const r = await derain(['models', 'import', folder]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /derain: error: TensorFlow\.js model .*model\.json is not valid JSON/);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
});

test('derain run --model: a card to build on first use whose shard is missing fails in one line, exit 2', async () => {
  const folder = writeModel('cli-noshard', tiny, (json) => {
    (json.weightsManifest as { paths: string[] }[])[0].paths = ['gone.bin'];
  });
  writeFileSync(path.join(folder, 'card.json'), JSON.stringify({ name: 'broken2', output: 'image', sizeMultiple: 4, import: { tfjs: 'model.json' } }));
  const clip = path.join(dir, 'clip.mp4');
  makeClip(clip, { width: 32, height: 32, frames: 2 });
  const r = await derain(['run', clip, '--model', folder]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /weight shard .*gone\.bin .* is missing/);
});
