// The dashboard's files at / and /assets/<name>, from the bundle in dist/web that
// scripts/build-web.mjs makes (`npm run build`, run by `npm ci`). Run from sources (tsx), the
// bundle is rebuilt first whenever src/web is newer, so the page served is the page in the tree.
//
// The page is open without the token: it holds no data, asks for the token, and sends it only
// to /api and /ws, which check it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ServerResponse } from 'node:http';
import { sendJson, type Route } from './routes.js';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..', '..');
const WEB_DIR = path.join(ROOT, 'dist', 'web');
const FROM_SOURCES = HERE.endsWith('.ts');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

// Frames are drawn from blob: images; the WebSockets are same-origin (ws: for browsers that
// do not count them under 'self').
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

async function freshBundle(): Promise<void> {
  if (!FROM_SOURCES) return;
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'build-web.mjs')).href;
  const { buildWebIfStale } = (await import(script)) as { buildWebIfStale(): Promise<void> };
  await buildWebIfStale();
}

async function sendFile(res: ServerResponse, file: string, html: boolean): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!html) return sendJson(res, 404, { error: `no dashboard file ${path.basename(file)}` });
    return sendJson(res, 503, { error: `the dashboard is not built (${path.relative(ROOT, file)} is missing): run npm run build` });
  }
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...(html ? { 'content-security-policy': CSP } : {}),
  });
  res.end(body);
}

export function dashboardRoutes(): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/(?:index\.html)?$/,
      auth: false,
      async handle(_req, res) {
        await freshBundle();
        await sendFile(res, path.join(WEB_DIR, 'index.html'), true);
      },
    },
    {
      method: 'GET',
      // one plain file name: no folders, nothing hidden, no way out of assets/
      path: /^\/assets\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/,
      auth: false,
      async handle(_req, res, m) {
        await sendFile(res, path.join(WEB_DIR, 'assets', m[1]), false);
      },
    },
  ];
}
