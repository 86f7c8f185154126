// Listing and checking an evaluation set, and reading its images: each bad layout is one clear UserError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../src/errors.ts';
import { listPairs } from '../../src/eval/pairs.ts';
import { parsePpm, readImage } from '../../src/eval/read-image.ts';
import { decodeRgb, ffmpeg, tmpDir } from '../helpers.ts';

const dir = tmpDir();

function folder(name: string, rain: string[] | null, norain: string[] | null): string {
  const root = path.join(dir, name);
  mkdirSync(root, { recursive: true });
  for (const [sub, files] of [
    ['rain', rain],
    ['norain', norain],
  ] as const) {
    if (!files) continue;
    mkdirSync(path.join(root, sub));
    for (const f of files) writeFileSync(path.join(root, sub, f), 'x');
  }
  return root;
}

function userError(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (err: unknown) => err instanceof UserError && err.exitCode === 2 && message.test(err.message));
}

test('pairs in natural order (1, 2, 10), other files ignored, --limit takes the first N', () => {
  const root = folder('ok', ['10.png', '2.png', '1.png', 'Thumbs.db'], ['1.png', '10.png', '2.png', 'notes.txt']);
  const pairs = listPairs(root);
  assert.deepEqual(
    pairs.map((p) => p.name),
    ['1.png', '2.png', '10.png'],
  );
  assert.equal(pairs[2].rain, path.join(root, 'rain', '10.png'));
  assert.equal(pairs[2].norain, path.join(root, 'norain', '10.png'));
  assert.deepEqual(
    listPairs(root, 2).map((p) => p.name),
    ['1.png', '2.png'],
  );
  assert.equal(listPairs(root, 50).length, 3, 'a limit past the end takes them all');
});

test('bad layouts: one clear error each', () => {
  userError(() => listPairs(path.join(dir, 'none')), /data folder not found: .*none/);
  const file = path.join(dir, 'file.png');
  writeFileSync(file, 'x');
  userError(() => listPairs(file), /file\.png is not a folder/);
  userError(() => listPairs(folder('no-rain', null, ['1.png'])), /has no rain\/ folder/);
  userError(() => listPairs(folder('no-norain', ['1.png'], null)), /has no norain\/ folder/);
  userError(() => listPairs(folder('empty', [], [])), /rain holds no images/);
  userError(() => listPairs(folder('extra-clean', ['1.png'], ['1.png', '2.png', '3.png'])), /do not match \(only in norain\/: 2\.png, 3\.png\)/);
  userError(
    () => listPairs(folder('renamed', ['rain-1.png', 'rain-2.png', 'rain-3.png', 'rain-4.png'], ['norain-1.png'])),
    /only in rain\/: rain-1\.png, rain-2\.png, rain-3\.png, … \(4\); only in norain\/: norain-1\.png/,
  );
  userError(() => listPairs(folder('limit', ['1.png'], ['1.png']), 0), /--limit 0 must be a positive whole number/);
  userError(() => listPairs(folder('limit2', ['1.png'], ['1.png']), 1.5), /--limit 1\.5 must be/);
});

test('readImage: rgb24 of any image ffmpeg reads, and one clear error for a broken one', async () => {
  const png = path.join(dir, 'odd%d name.png');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=33x17', '-frames:v', '1', '-f', 'image2', '-update', '1', png]);
  const img = await readImage(png);
  assert.deepEqual([img.width, img.height], [33, 17]);
  const plain = path.join(dir, 'plain.png');
  copyFileSync(png, plain);
  assert.ok(img.data.equals(decodeRgb(plain)), 'the same pixels as a plain ffmpeg decode (a % in the name is no pattern)');
  const gray = path.join(dir, 'gray.png');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=16x12', '-frames:v', '1', '-pix_fmt', 'gray', gray]);
  assert.equal((await readImage(gray)).data.length, 16 * 12 * 3, 'grayscale comes back as rgb24');

  const empty = path.join(dir, 'empty.png');
  writeFileSync(empty, '');
  await assert.rejects(readImage(empty), (e: unknown) => e instanceof UserError && /empty\.png is empty \(0 bytes\)/.test(e.message));
  const text = path.join(dir, 'text.jpg');
  writeFileSync(text, 'not a jpeg at all\n'.repeat(50));
  await assert.rejects(readImage(text), (e: unknown) => e instanceof UserError && /image .*text\.jpg cannot be read: /.test(e.message));
});

test('parsePpm takes only a whole P6 picture', () => {
  const ok = Buffer.concat([Buffer.from('P6\n2 1\n255\n'), Buffer.from([1, 2, 3, 4, 5, 6])]);
  assert.deepEqual(parsePpm(ok), { width: 2, height: 1, data: Buffer.from([1, 2, 3, 4, 5, 6]) });
  assert.equal(parsePpm(ok.subarray(0, ok.length - 1)), null, 'truncated');
  assert.equal(parsePpm(Buffer.from('P5\n2 1\n255\n\x01\x02')), null, 'not rgb');
  assert.equal(parsePpm(Buffer.alloc(0)), null, 'nothing');
});
