// The malformed-input corpus: URLs (cases.ts URL_CASES through the real `derain run`, and
// SERVE_URL_CASES as cameras of one real `derain serve`), against servers made here that
// misbehave: one answers 401, one accepts and never sends, one answers HTTP 404.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { CAMERA_PASSWORD, SERVE_URL_CASES, URL_CASES, type UrlServers } from './cases.ts';
import { Materials } from './media.ts';
import { runCliCase } from './run-case.ts';
import { freePort, getJson, serveProcess, waitFor } from '../serve/live-helpers.ts';

const m = new Materials();
const servers: Server[] = [];
const sockets = new Set<Socket>();
const ports = {} as UrlServers;

/** A TCP server that answers each request (a header block ending in a blank line) with `answer(request)`; none: silence. */
async function listen(answer?: (request: string) => string): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = '';
    socket.on('data', (d) => {
      if (!answer) return;
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        socket.write(answer(buf.slice(0, i)));
        buf = buf.slice(i + 4);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

// (at the top level, not in hooks: the servers and the serve process then belong to the file, and
// serve starts while the CLI cases run)
ports.rtsp401 = await listen((req) => `RTSP/1.0 401 Unauthorized\r\nCSeq: ${/CSeq:\s*(\d+)/i.exec(req)?.[1] ?? 1}\r\nWWW-Authenticate: Basic realm="camera"\r\n\r\n`);
ports.silent = await listen();
ports.http404 = await listen(() => 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
ports.closed = await freePort();

const cfg = path.join(m.dir, 'serve.yaml');
writeFileSync(
  cfg,
  [
    'server: { port: 0 }',
    'rtsp: { enabled: false }',
    'defaults: { model: builtin-tiny, connectTimeout: 2, backoffInitial: 0.5, backoffMax: 1 }',
    'streams:',
    '  - { id: demo, url: "demo://rain?size=64x48&fps=4" }',
    ...SERVE_URL_CASES.map((c, i) => `  - { id: cam${i}, url: "${c.url(ports)}" }`),
    '',
  ].join('\n'),
);
const svc = serveProcess(['-c', cfg]);

after(() => {
  // (the silent server's connections stay open as long as whoever connected waits)
  for (const socket of sockets) socket.destroy();
  for (const s of servers) s.close();
});

describe('malformed input: URLs', { concurrency: true }, () => {
  for (const c of URL_CASES) test(c.name, () => runCliCase(c, ports, m.runs));
  SERVE_URL_CASES.forEach((c, i) =>
    test(c.name, async () => {
      const base = await svc.base();
      const s = await waitFor(
        `cam${i} to say why it is down`,
        async () => {
          const { body } = await getJson(`${base}/api/streams/cam${i}`);
          return body.reason && c.reason.test(body.reason) ? body : null;
        },
        45_000,
      );
      assert.match(s.state, c.state);
      assert.ok(!JSON.stringify(s).includes(CAMERA_PASSWORD), 'no password in the API');
      // the service goes on: it answers, and its good stream runs
      assert.equal((await getJson(`${base}/livez`)).status, 200);
      await waitFor('the good stream to run', async () => (await getJson(`${base}/api/streams/demo`)).body.state === 'live', 45_000);
    }),
  );
});

test('serve, its cameras all bad, stops cleanly on SIGTERM, no password in its log', async () => {
  const { code } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
  assert.ok(!svc.stderr().includes(CAMERA_PASSWORD), 'no camera password in the log');
});
