// derain models: the list with cards, import, build on first use, and maxim-derain as the default of derain run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chooseModel } from '../../src/infer/open-model.ts';
const defaultModelName = (ep: 'auto' | 'cpu' | 'cuda') => chooseModel(undefined, ep).name;
import { countFlops } from '../../src/infer/flops.ts';
import { fusedFeeds } from '../../src/infer/model-speed.ts';
import { prepareModel } from '../../src/infer/prepare-model.ts';
import { derain, makeClip, ROOT, tmpDir } from '../helpers.ts';

const dir = tmpDir();
/** The default of `derain run` without the pin the other CLI tests set: maxim-derain, unless the project's CPU model is there. */
const unpinned = (): string => {
  const pinned = process.env.DERAIN_DEFAULT_MODEL;
  delete process.env.DERAIN_DEFAULT_MODEL;
  try {
    return defaultModelName('auto');
  } finally {
    process.env.DERAIN_DEFAULT_MODEL = pinned;
  }
};
const DEFAULT = unpinned();
const CARD = path.join(ROOT, 'models', 'maxim-derain', 'card.json');
const clip = path.join(dir, 'clip.mp4');
makeClip(clip, { width: 64, height: 64, frames: 2 });

/** A copy of the maxim-derain card in a folder of its own, without its ONNX file. */
function cardCopy(name: string): string {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  copyFileSync(CARD, path.join(folder, 'card.json'));
  return folder;
}

test('derain models lists the built-in models and the cards, with source, licence, size multiple and the default', async () => {
  const all = { env: { DERAIN_DEFAULT_MODEL: '' } };
  const r = await derain(['models'], all);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^model\s+where\s+multiple\s+quality\s+speed/m);
  assert.match(r.stdout, /^builtin-tiny\s+built-in\s+4\s/m);
  assert.match(r.stdout, /^maxim-derain(?: \(default\))?\s+models\/maxim-derain.*\s64\s.*MIT/m);
  assert.match(r.stdout, new RegExp(`^${DEFAULT} \\(default\\)`, 'm'));
  assert.match(r.stdout, /maxim-derain: MAXIM-2S deraining .*Rain13K/);

  const j = await derain(['models', '--json'], all);
  const list = JSON.parse(j.stdout) as { name: string; default: boolean; card: { sizeMultiple: number; license: string } }[];
  const maxim = list.find((m) => m.name === 'maxim-derain')!;
  assert.equal(maxim.card.sizeMultiple, 64);
  assert.deepEqual(
    list.filter((m) => m.default).map((m) => m.name),
    [DEFAULT],
  );
});

test('derain models import builds the ONNX file a card names', async () => {
  const folder = cardCopy('imported');
  const r = await derain(['models', 'import', folder]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /importing @upscalerjs\/maxim-deraining@[\d.]+\/models\/model\.json/);
  assert.match(r.stdout, /^built .*imported\/model\.onnx \(5\d\.\d MB, \d+ nodes\) in [\d.]+ s$/m);
  assert.ok(existsSync(path.join(folder, 'model.onnx')));
});

test('derain models import: an unknown name, and a card with nothing to import', async () => {
  const r = await derain(['models', 'import', 'no-such-model']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /derain: error: unknown model "no-such-model": no card\.json/);
  const r2 = await derain(['models', 'import', 'builtin-tiny']);
  assert.equal(r2.code, 2);
  const bare = path.join(dir, 'no-card');
  mkdirSync(bare, { recursive: true });
  const r3 = await derain(['models', 'import', bare]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /derain: error: model folder .*no-card has no card\.json/);
});

test('a generated model is built on first use with a one-line message, then runs', async () => {
  const folder = cardCopy('first-use');
  const r = await derain(['run', clip, '--model', folder, '--json', '--no-smooth']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^derain: building .*first-use\/model\.onnx from @upscalerjs\/maxim-deraining@[\d.]+\/models\/model\.json \(first use of maxim-derain; once\)$/m);
  assert.equal(JSON.parse(r.stdout).framesOut, 2);
  const again = await derain(['run', clip, '--model', folder, '--no-smooth']);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /building/);
});

test("derain run without --model derains with the default model: maxim-derain on a GPU, and on a CPU until the project's own model is there", async () => {
  const pinned = process.env.DERAIN_DEFAULT_MODEL;
  delete process.env.DERAIN_DEFAULT_MODEL;
  assert.equal(defaultModelName('cuda'), 'maxim-derain');
  assert.equal(defaultModelName('cpu'), existsSync(path.join(ROOT, 'models', 'fclip-unet-lite2-t5', 'card.json')) ? 'fclip-unet-lite2-t5' : 'maxim-derain');
  process.env.DERAIN_DEFAULT_MODEL = pinned;
  // (the other CLI tests pin the small built-in model through DERAIN_DEFAULT_MODEL; this one does not)
  const r = await derain(['run', clip, '--json', '--no-smooth'], { env: { DERAIN_DEFAULT_MODEL: '' } });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, DEFAULT);
  assert.equal(s.framesOut, 2);
  const help = await derain(['run', '--help'], { env: { DERAIN_DEFAULT_MODEL: '' } });
  assert.match(help.stdout, new RegExp(`default: ${DEFAULT}`));
});

test('derain models speed: ms/frame and GFLOP/frame of the fused graph, counting what flops.ts counts', async () => {
  const r = await derain(['models', 'speed', 'builtin-medium', '--frames', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'builtin-medium');
  assert.deepEqual([s.width, s.height, s.inferWidth, s.inferHeight], [640, 360, 640, 360]);
  assert.ok(s.msPerFrame > 0 && s.msEach.length === 1);
  // flops.ts counts the same graph another way (every intermediate tensor kept from one run).
  const prepared = prepareModel('builtin-medium', { width: 640, height: 360 }, {});
  const flops = await countFlops(prepared.fused, fusedFeeds(640, 360, prepared.past, new Uint8Array(640 * 360 * 3)));
  assert.ok(Math.abs(s.gflopPerFrame - flops / 1e9) < 0.01, `${s.gflopPerFrame} vs ${flops / 1e9}`);
});
