// The Origin check of WebSocket upgrades (issue 18, defect 10): a page from elsewhere that has
// the token (?token= or a Bearer header) was let in. Real `serve` HTTP services and real
// WebSocket clients: no Origin (not a browser) and the server's own pages get in; other
// Origins get 403 unless listed in allowedOrigins; with a token and without one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { resolveConfig, type ServeConfig } from '../../src/serve/config.ts';
import { startServe, type ServeHandle } from '../../src/serve/serve.ts';
import { startHttp, type HttpService } from '../../src/http/http-server.ts';
import { normalOrigin } from '../../src/http/auth.ts';

const TOKEN = 'tok-origin';
const WALL = 'https://wall.example.org';
let svc: ServeHandle;
let open: HttpService;
const logs: string[] = [];

before(async () => {
  const config = resolveConfig(
    {
      server: { port: 0, token: TOKEN },
      rtsp: { enabled: false },
      streams: [{ id: 'cam', url: 'demo://rain?size=160x96&fps=4', model: 'builtin-tiny' }],
    },
    'test',
    process.cwd(),
  );
  // (server.allowedOrigins as the config will hand it over)
  const server = { ...config.server, allowedOrigins: [WALL] };
  const withOrigins: ServeConfig = { ...config, server };
  svc = await startServe(withOrigins, { log: (m) => logs.push(m) });
  // the same streams behind a second HTTP service without a token
  open = await startHttp({ host: '127.0.0.1', port: 0, directory: svc.manager });
});

after(async () => {
  await open?.close();
  await svc?.close();
});

/** The HTTP status of a WebSocket upgrade: 101 when it opened, else the refusal's. */
function upgrade(port: number, path: string, opts: { origin?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: opts.headers, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) });
    ws.once('upgrade', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (err) => reject(err));
  });
}

test('with a token: foreign Origins are refused (403) whatever token they carry; no Origin, the own Origin and listed ones get in', async () => {
  const port = svc.http.port;
  const self = `http://127.0.0.1:${port}`;
  const q = `/ws/cam?token=${TOKEN}`;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  assert.equal(await upgrade(port, q), 101, 'no Origin: not a browser');
  assert.equal(await upgrade(port, '/ws/cam', { headers: bearer }), 101);
  assert.equal(await upgrade(port, q, { origin: self }), 101, 'the dashboard served here');
  assert.equal(await upgrade(port, q, { origin: `${self}/` }), 101);
  assert.equal(await upgrade(port, q, { origin: WALL }), 101, 'listed in allowedOrigins');
  assert.equal(await upgrade(port, q, { origin: 'HTTPS://Wall.Example.org:443' }), 101, 'the same origin, spelt otherwise');

  assert.equal(await upgrade(port, q, { origin: 'http://evil.example' }), 403, '?token= from a foreign page');
  assert.equal(await upgrade(port, '/ws/cam', { origin: 'http://evil.example', headers: bearer }), 403, 'Bearer from a foreign page');
  assert.equal(await upgrade(port, q, { origin: `http://127.0.0.1:${port + 1}` }), 403, 'another port is another origin');
  assert.equal(await upgrade(port, q, { origin: 'http://wall.example.org' }), 403, 'another scheme is another origin');
  assert.equal(await upgrade(port, q, { origin: 'null' }), 403, 'a sandboxed frame or a local file');
  assert.equal(await upgrade(port, '/ws/cam', { origin: 'http://evil.example' }), 403, 'refused before the token is looked at');
  assert.equal(await upgrade(port, '/ws/cam'), 401, 'the token is still needed');
  assert.equal(logs.filter((l) => l.includes('"http://evil.example"')).length, 1, `one log line per refused Origin:\n${logs.join('\n')}`);
});

test('without a token the same: any page could otherwise watch the cameras through a browser on this machine', async () => {
  const port = open.port;
  assert.equal(await upgrade(port, '/ws/cam'), 101);
  assert.equal(await upgrade(port, '/ws/cam', { origin: `http://127.0.0.1:${port}` }), 101);
  assert.equal(await upgrade(port, '/ws/cam', { origin: 'http://evil.example' }), 403);
  assert.equal(await upgrade(port, '/ws/cam', { origin: WALL }), 403, 'allowedOrigins were not given to this one');
});

test('origins compared as browsers send them', () => {
  assert.equal(normalOrigin('HTTPS://Wall.Example.org:443/'), 'https://wall.example.org');
  assert.equal(normalOrigin('http://h:8080'), 'http://h:8080');
  assert.equal(normalOrigin('null'), 'null');
});
