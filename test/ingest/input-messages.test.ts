// What a user is told about inputs that cannot be opened for reasons in the input itself
// (issue 18, defect 8): a scheme that is not read, a host name that does not resolve (the
// bundled static ffprobe crashes on it, which read as "no answer within 20 s"), a password
// that ffmpeg would misread. A real live source; nothing is listening. (`derain run` on such
// URLs: the malformed-input corpus, test/corpus/urls.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveSource, liveInputArgs, type LiveEvent } from '../../src/ingest/live-source.ts';
import { credentialsProblem, unsupportedScheme, urlHost } from '../../src/ingest/input-url.ts';
import { waitFor } from '../serve/live-helpers.ts';

// (.invalid never resolves: RFC 2606)
const NOWHERE = 'no-such-camera.invalid';

test('a live source whose host name does not resolve says so when it goes down, password hidden', { timeout: 30_000 }, async () => {
  const url = `rtsp://admin:s3cret@${NOWHERE}:554/live`;
  const events: LiveEvent[] = [];
  const src = new LiveSource(
    { display: 'rtsp://***@nowhere/live', ...liveInputArgs(url, { transport: 'tcp' }) },
    { connectTimeoutMs: 2000, stallTimeoutMs: 1000, backoff: { initialMs: 200, maxMs: 400 } },
    (e) => events.push(e),
  );
  const opened = src.open();
  try {
    const down = await waitFor('a failed attempt', () => events.find((e): e is Extract<LiveEvent, { type: 'down' }> => e.type === 'down'), 15_000, 50);
    assert.match(down.reason, new RegExp(`the host name "${NOWHERE}" does not resolve`));
    assert.doesNotMatch(down.reason, /s3cret|no answer/);
  } finally {
    await src.stop();
    await opened;
  }
});

test('URLs as ffmpeg reads them: the host after the last "@" of the authority; a raw "/" in a password is refused, "@" and ":" are not', () => {
  assert.deepEqual(urlHost('rtsp://user:p@ss-w0rd-XY@cam.local:8554/live'), { host: 'cam.local', port: '8554' });
  assert.deepEqual(urlHost('rtsp://[fe80::1]:554/x'), { host: 'fe80::1', port: '554' });
  assert.deepEqual(urlHost('rtsp://10.0.0.5/x@y'), { host: '10.0.0.5', port: null });
  assert.equal(urlHost('clip.mp4'), null);
  for (const ok of ['rtsp://user:p@ss@cam/live', 'rtsp://user:pa:ss@cam:554/live', 'rtsp://user:p%2Fss@cam/live', 'rtsp://cam/stream@main', 'rtsp://user:@cam/x', 'rtsp://cam:554']) {
    assert.equal(credentialsProblem(ok), null, ok);
  }
  for (const bad of ['rtsp://uzr:qq/zz@cam/live', 'rtsp://uzr:qq?zz@cam/live', 'rtsp://uzr:/zz@cam/live']) {
    const why = credentialsProblem(bad);
    assert.match(why ?? '', /percent-encoded/, bad);
    assert.doesNotMatch(why!, /uzr|qq|zz/, 'the message quotes nothing of the URL');
  }
  assert.equal(unsupportedScheme('rtsp://cam/x'), null);
  assert.equal(unsupportedScheme('clip.mp4'), null);
  assert.match(unsupportedScheme('FOO://bar')!, /"foo:\/\/" is not supported/);
});
