// Camera credentials never shown (issue 18, defect 2): a password with a raw "@" was shown as
// rtsp://***@ss-w0rd-XY@... on the open /healthz, in /api/streams and in the logs. redactUrl
// on passwords with "@", ":", "/", "%40", spaces and none; then a real `derain serve` with such
// cameras (nothing listens there), its /healthz, /api/streams and stderr searched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { redactUrl } from '../../src/errors.ts';
import { ROOT, tmpDir } from '../helpers.ts';
import { freePort, getJson, serveProcess, waitFor } from './live-helpers.ts';

test('redactUrl hides everything between :// and the last @ before the host, whatever the password holds', () => {
  const cases: [string, string][] = [
    ['rtsp://user:p@ss-w0rd-XY@cam.local/live', 'rtsp://***@cam.local/live'],
    ['rtsp://user:pa:ss@10.0.0.5:554/live', 'rtsp://***@10.0.0.5:554/live'],
    ['rtsp://user:pa/ss@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    ['rtsp://user:pa?ss#x@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    ['rtsp://user:p%40ss@10.0.0.5/live?a=1', 'rtsp://***@10.0.0.5/live?a=1'],
    ['rtsp://user:@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    ['rtsp://:@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    ['rtsp://admin@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    ['rtsp://10.0.0.5/live', 'rtsp://10.0.0.5/live'],
    ['rtsp://***@10.0.0.5/live', 'rtsp://***@10.0.0.5/live'],
    // in messages: each URL on its own, the text around kept
    ['cannot open rtsp://a:p@ss1@h1/x: refused; rtsp://b:p@ss2@h2/y too', 'cannot open rtsp://***@h1/x: refused; rtsp://***@h2/y too'],
    ["'rtsp://u:p@ss@h/x': Server returned 404\nnext rtsp://h2/y", "'rtsp://***@h/x': Server returned 404\nnext rtsp://h2/y"],
    ['rtsp://user:my pass@h/x: Connection refused', 'rtsp://***@h/x: Connection refused'],
    ['rtsp://10.0.0.5/live failed; ask admin@example.org', 'rtsp://10.0.0.5/live failed; ask admin@example.org'],
    ['srt://u:s3cr@t@h:9000?mode=caller', 'srt://***@h:9000?mode=caller'],
    // the dashboard's ?token= (issue 17, item 4), wherever a message quotes it
    ['ws://h:8080/ws/cam?format=jpeg&token=tok-9x&raw=1', 'ws://h:8080/ws/cam?format=jpeg&token=***&raw=1'],
    // (up to a space: a token may hold any character, and hiding a colon too costs nothing)
    ['GET /api/streams?Token=tok-9x: refused', 'GET /api/streams?Token=*** refused'],
    ['"http://u:pw@h/?token=tok-9x"', '"http://***@h/?token=***"'],
    ['/api/streams?mytoken=keep&tokens=keep', '/api/streams?mytoken=keep&tokens=keep'],
  ];
  for (const [input, want] of cases) assert.equal(redactUrl(input), want, input);
  // (an "@" in the path hides the host too: hiding too much costs a host name, too little a password)
  assert.equal(redactUrl('rtsp://10.0.0.5/cam@main'), 'rtsp://***@main');
});

const CAMERAS = [
  { id: 'at', user: 'camuserA', password: 'p@ss-w0rd-XY' },
  { id: 'colon', user: 'camuserB', password: 'pa:ss-Q7' },
  { id: 'slash', user: 'camuserC', password: 'pa/ss-Z9' },
  { id: 'pct', user: 'camuserD', password: 'p%40ss-K3' },
  { id: 'empty', user: 'camuserE', password: '' },
];
// what must appear nowhere: the user names and the password's parts on either side of a special character
const SECRETS = ['camuser', 'p@ss', 'w0rd-XY', 'ss-Q7', 'ss-Z9', 'p%40', 'ss-K3'];

test('derain serve with passwords holding @ : / %40 and none: /healthz, /api/streams and the logs show none of them', { timeout: 60_000 }, async () => {
  const dir = tmpDir();
  const port = await freePort();
  const cfg = path.join(dir, 'serve.yaml');
  writeFileSync(
    cfg,
    [
      'server: { port: 0 }',
      'rtsp: { enabled: false }',
      'defaults: { model: builtin-tiny, connectTimeout: 2, backoffInitial: 0.2, backoffMax: 0.5 }',
      'streams:',
      ...CAMERAS.map((c) => `  - { id: ${c.id}, url: "rtsp://${c.user}:${c.password}@127.0.0.1:${port}/live" }`),
      '',
    ].join('\n'),
  );
  const svc = serveProcess(['-c', cfg]);
  const base = await svc.base();
  const health = await waitFor(
    'every stream to say why it is down',
    async () => {
      const r = await getJson(`${base}/healthz`);
      return CAMERAS.every((c) => r.body.streams?.[c.id]?.reason) ? r : null;
    },
    30_000,
  );
  assert.equal(health.status, 503);
  const api = await getJson(`${base}/api/streams`);
  assert.equal(api.status, 200);
  // a few more failed attempts, for the logs
  await new Promise((r) => setTimeout(r, 1500));
  await svc.signal('SIGTERM');
  const texts = { '/healthz': JSON.stringify(health.body), '/api/streams': JSON.stringify(api.body), stderr: svc.stderr() };
  for (const [where, text] of Object.entries(texts)) {
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} shows "${secret}":\n${text}`);
  }
  // and still says which camera it is about
  assert.match(texts['/api/streams'], /rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live/);
  assert.match(texts.stderr, /rtsp:\/\/\*\*\*@127\.0\.0\.1/);
});

test('a crash of the CLI (an error nobody caught) is reported with its stack, and without the credentials or token it quotes', async () => {
  const dir = tmpDir();
  // (loaded before the CLI: throws once the CLI has started, and runs a long command)
  const crash = path.join(dir, 'crash.mjs');
  writeFileSync(
    crash,
    [
      'const wait = setInterval(() => {',
      "  if (process.listenerCount('uncaughtException') === 0) return;",
      '  clearInterval(wait);',
      "  setTimeout(() => { throw new Error('boom at rtsp://admin:Cr4sh-pw@cam/live and ws://h/ws/a?token=Cr4sh-tok'); }, 100);",
      '}, 20);',
      '',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', crash, path.join(ROOT, 'src', 'cli.ts'), 'ffmpeg', '-loglevel', 'error', '-f', 'lavfi', '-i', 'nullsrc=s=16x16', '-t', '3', '-f', 'null', '-'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /derain: crashed: Error: boom at rtsp:\/\/\*\*\*@cam\/live and ws:\/\/h\/ws\/a\?token=\*\*\*\n\s+at /);
  assert.doesNotMatch(stderr, /Cr4sh-pw|Cr4sh-tok/);
});
