#!/usr/bin/env node
// Bundles the dashboard (src/web, browser code) into dist/web: index.html and
// assets/app.{js,css} (uPlot and the styles inlined), with esbuild for the browser, so a
// Node import in the page fails the build. `npm run build` and `prepare` (so `npm ci`) run it;
// `derain serve` run from sources (tsx) calls buildWebIfStale() and serves what it finds.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src', 'web');
export const WEB_OUT = path.join(ROOT, 'dist', 'web');

/** Writes beside the target and renames: a server reading at the same moment sees old or new, never half. */
async function writeAtomic(file, data) {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

export async function buildWeb() {
  const { build } = await import('esbuild');
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: path.join(SRC, 'main.ts') },
    outdir: path.join(WEB_OUT, 'assets'),
    tsconfig: path.join(SRC, 'tsconfig.json'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // current Chromium and Firefox, and a few versions back
    target: ['chrome111', 'firefox115', 'safari16.4'],
    minify: true,
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
  });
  for (const f of result.outputFiles) await writeAtomic(f.path, f.contents);
  // the page last: it never names assets that are not there yet
  await writeAtomic(path.join(WEB_OUT, 'index.html'), await readFile(path.join(SRC, 'index.html')));
  return WEB_OUT;
}

async function newestMtime(dir) {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

let building = null;

/** Rebuilds when the page's sources (or this script) are newer than the bundle; concurrent calls share one build. */
export function buildWebIfStale() {
  building ??= (async () => {
    const built = await stat(path.join(WEB_OUT, 'index.html')).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    const sources = Math.max(await newestMtime(SRC), (await stat(fileURLToPath(import.meta.url))).mtimeMs);
    if (sources > built) await buildWeb();
  })().finally(() => (building = null));
  return building;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  buildWeb().then(
    (out) => console.log(`dashboard bundled into ${path.relative(process.cwd(), out) || '.'} in ${Date.now() - t0} ms`),
    (err) => {
      console.error(`build-web: ${err.message}`);
      process.exit(1);
    },
  );
}
