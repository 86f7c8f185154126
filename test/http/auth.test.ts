// The token check and the limit on guessing it (issue 17, item 4): tokens of any length compared
// without throwing, what counts as a guess, the block and its end, one client's block not
// another's, IPv6 clients by their /64, and tables that stay bounded under a flood of addresses.
// (A real serve answering 429 over sockets: test/corpus/http.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { TokenGate, clientKey, presentedToken, type GuessLimits } from '../../src/http/auth.ts';

const TOKEN = 's3cret-token';

function request(opts: { bearer?: string; query?: string; from?: string } = {}): [IncomingMessage, URL] {
  const headers = opts.bearer === undefined ? {} : { authorization: `Bearer ${opts.bearer}` };
  const url = new URL(`http://h/api/streams${opts.query === undefined ? '' : `?token=${encodeURIComponent(opts.query)}`}`);
  return [{ headers, socket: { remoteAddress: opts.from ?? '10.0.0.1' } } as unknown as IncomingMessage, url];
}

test('presentedToken: none, ok or wrong, whatever the lengths', () => {
  assert.equal(presentedToken(...request(), TOKEN), 'none');
  assert.equal(presentedToken(...request({ query: '' }), TOKEN), 'none');
  assert.equal(presentedToken(...request({ bearer: TOKEN }), TOKEN), 'ok');
  assert.equal(presentedToken(...request({ query: TOKEN }), TOKEN), 'ok');
  for (const wrong of ['s', 's3cret-toke', 's3cret-token!', 'x'.repeat(10_000), TOKEN.toUpperCase()]) assert.equal(presentedToken(...request({ bearer: wrong }), TOKEN), 'wrong', wrong.slice(0, 20));
});

function gate(limits: Partial<GuessLimits> = {}) {
  let now = 1_000_000;
  const logs: string[] = [];
  const g = new TokenGate(
    TOKEN,
    { maxWrong: 3, windowMs: 10_000, blockMs: 5_000, maxClients: 100, ...limits },
    (m) => logs.push(m),
    () => now,
  );
  return { g, logs, advance: (ms: number) => (now += ms) };
}

test('maxWrong wrong tokens within the window: 429 with Retry-After for blockMs, the right token included; then free again', () => {
  const { g, logs, advance } = gate();
  for (let i = 0; i < 3; i++)
    assert.deepEqual(g.admit(...request({ bearer: `guess${i}` })), { ok: false, status: 401, error: 'a bearer token is required (Authorization: Bearer <token>, or ?token=)' });
  const blocked = g.admit(...request({ bearer: TOKEN }));
  assert.equal(blocked.ok, false);
  assert.equal(!blocked.ok && blocked.status, 429);
  assert.equal(!blocked.ok && blocked.status === 429 && blocked.retryAfterS, 5);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /3 wrong tokens from 10\.0\.0\.1 within 10 s: it gets 429 for 5 s/);
  assert.ok(!logs[0].includes('guess'), 'the guesses are not logged');
  assert.equal(g.admit(...request({ bearer: TOKEN, from: '10.0.0.2' })).ok, true, 'another client is not blocked');
  advance(4_000);
  assert.equal(g.admit(...request({ bearer: TOKEN })).ok, false, 'still blocked');
  advance(1_001);
  assert.equal(g.admit(...request({ bearer: TOKEN })).ok, true, 'the block ends');
});

test('requests without a token are not guesses; old guesses leave the window; the right token forgives', () => {
  const { g, advance } = gate();
  for (let i = 0; i < 20; i++) {
    assert.equal(g.admit(...request()).ok, false);
    assert.equal(g.admit(...request({ query: '' })).ok, false);
  }
  assert.equal(g.admit(...request({ bearer: TOKEN })).ok, true, 'a dashboard asking without a token is never blocked');
  g.admit(...request({ bearer: 'a' }));
  g.admit(...request({ bearer: 'b' }));
  advance(10_001);
  g.admit(...request({ bearer: 'c' }));
  assert.equal(g.admit(...request({ bearer: TOKEN })).ok, true, 'two of the three were too long ago');
  g.admit(...request({ bearer: 'd' }));
  g.admit(...request({ bearer: 'e' }));
  assert.equal(g.admit(...request({ bearer: TOKEN })).ok, true, 'the right token cleared the count');
});

test('no token configured: everyone is admitted', () => {
  const g = new TokenGate(undefined);
  assert.deepEqual(g.admit(...request({ bearer: 'anything' })), { ok: true });
});

test('IPv6 clients are counted by their /64; IPv4 and mapped addresses as they are', () => {
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('::ffff:10.0.0.1'), '::ffff:10.0.0.1');
  assert.equal(clientKey('10.0.0.1'), '10.0.0.1');
  assert.equal(clientKey(undefined), '?');
  const { g } = gate();
  for (let i = 0; i < 3; i++) g.admit(...request({ bearer: 'guess', from: `2001:db8:1:2::${i + 1}` }));
  assert.equal(g.admit(...request({ bearer: TOKEN, from: '2001:db8:1:2::99' })).ok, false, 'another address of the same /64 is the same client');
  assert.equal(g.admit(...request({ bearer: TOKEN, from: '2001:db8:1:3::1' })).ok, true);
});

test('a flood of addresses keeps the tables within maxClients', () => {
  const { g } = gate({ maxClients: 50, maxWrong: 2 });
  for (let i = 0; i < 5000; i++) g.admit(...request({ bearer: 'guess', from: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }));
  const tables = g as unknown as { wrong: Map<string, unknown>; blocked: Map<string, unknown> };
  assert.ok(tables.wrong.size + tables.blocked.size <= 50, `${tables.wrong.size} + ${tables.blocked.size}`);
});
