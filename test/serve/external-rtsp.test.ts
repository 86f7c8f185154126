// RTSP output to an external RTSP server (as to MediaMTX): serve publishes <publishUrl>/<id>
// there, with the credentials of publishUrl kept out of the API.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, getJson, readRtsp, waitFor } from './live-helpers.ts';

test('an external RTSP server receives the derained stream', { timeout: 60_000 }, async () => {
  const dir = tmpDir();
  const external = await cameraServer();
  const base = external.publishUrl('').replace(/\/$/, '').replace('rtsp://', 'rtsp://pub:pub-secret@');
  const config = resolveConfig(
    { server: { port: 0 }, rtsp: { publishUrl: base, publishTransport: 'udp' }, streams: [{ id: 'yard', url: 'demo://rain?size=192x108&fps=10', model: 'builtin-tiny' }] },
    'test',
    dir,
  );
  const svc = await startServe(config, { log: () => {} });
  after(async () => {
    await svc.close();
    await external.close();
  });
  assert.equal(svc.rtsp, null, 'no embedded server');
  await waitFor('the stream to publish', () => external.published('yard'), 30_000);
  const got = await readRtsp(external.readUrl('yard'), 10, path.join(dir, 'ext.mp4'));
  assert.deepEqual(got, { frames: 10, width: 192, height: 108 });
  const { body } = await getJson(`${svc.httpUrl}/api/streams/yard`);
  assert.match(body.outputs.rtsp, /^rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/yard$/);
});
