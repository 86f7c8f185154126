// Readers of the embedded RTSP server with RTP interleaved in their RTSP connection
// (`-rtsp_transport tcp`), beside UDP readers: real ffmpeg publishing the real traffic clip to
// the real server on loopback, real ffmpeg readers, and a hand-written reader for what ffmpeg
// does not do on demand (RTCP between requests, a reader that stops reading).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { after } from 'node:test';
import { EmbeddedRtspServer } from '../../src/egress/rtsp/embedded-server.ts';
import { ffmpegPath } from '../../src/util/ffmpeg.ts';
import { ffmpeg, tmpDir } from '../helpers.ts';
import { CAR_CLIP, makeCameraClip, rtpBase, startCamera, waitFor } from '../serve/live-helpers.ts';

const W = 384;
const H = 216;

async function servedCamera(clip: string, opts: { tcpMaxQueuedBytes?: number; onError?: (err: Error) => void } = {}): Promise<{ server: EmbeddedRtspServer; url: string }> {
  const server = new EmbeddedRtspServer({ host: '127.0.0.1', port: 0, rtpPortStart: rtpBase(), rtpPortCount: 40, ...opts });
  await server.start();
  const camera = startCamera(clip, server.publishUrl('cam'));
  after(async () => {
    await camera.kill();
    await server.close();
  });
  await waitFor('the camera to publish', () => server.published('cam'), 15_000, 50);
  return { server, url: server.readUrl('cam') };
}

/** ffmpeg reads `frames` frames and decodes them to gray bytes: exactly frames*W*H bytes when all arrived whole. */
function readFrames(url: string, transport: 'tcp' | 'udp', frames: number, timeoutMs = 20_000): Promise<{ code: number | null; bytes: number; stderr: string }> {
  return new Promise((resolve) => {
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-rtsp_transport', transport, '-i', url, '-frames:v', String(frames), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];
    const child = spawn(ffmpegPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, bytes, stderr });
    });
  });
}

/** An ffmpeg reader that keeps reading; `frames()` is its progress line's count. */
function keepReading(url: string, transport: 'tcp' | 'udp'): { frames(): number; kill(): Promise<void> } {
  const child = spawn(ffmpegPath(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats', '-rtsp_transport', transport, '-i', url, '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let n = 0;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    for (const m of d.matchAll(/frame=\s*(\d+)/g)) n = Number(m[1]);
  });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  after(kill);
  return { frames: () => n, kill };
}

/** A reader that speaks RTSP itself and counts the interleaved frames it gets. */
class RawReader {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  private cseq = 0;
  private waiting = new Map<number, (res: { status: number; headers: string; body: string }) => void>();
  frames = new Map<number, number>();
  session = '';

  constructor(private readonly url: string) {
    const u = new URL(url);
    this.socket = connect(Number(u.port), u.hostname);
    this.socket.on('data', (d: Buffer) => this.parse(Buffer.concat([this.buf, d])));
    this.socket.on('error', () => {});
    after(() => this.socket.destroy());
  }

  private parse(buf: Buffer): void {
    for (;;) {
      if (buf[0] === 0x24 && buf.length >= 4) {
        const len = buf.readUInt16BE(2);
        if (buf.length < 4 + len) break;
        this.frames.set(buf[1], (this.frames.get(buf[1]) ?? 0) + 1);
        buf = buf.subarray(4 + len);
        continue;
      }
      const end = buf.indexOf('\r\n\r\n');
      if (buf[0] === 0x24 || end < 0) break;
      const headers = buf.subarray(0, end).toString();
      const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
      if (buf.length < end + 4 + length) break;
      assert.match(headers, /^RTSP\/1\.0 \d{3} /, 'a response starts where a frame or response ended');
      const cseq = Number(/cseq:\s*(\d+)/i.exec(headers)?.[1]);
      this.waiting.get(cseq)?.({ status: Number(headers.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString() });
      this.waiting.delete(cseq);
      buf = buf.subarray(end + 4 + length);
    }
    this.buf = Buffer.from(buf);
  }

  /** The request's text, to send as it is or with other bytes around it. */
  format(method: string, uri: string, headers: Record<string, string> = {}): { cseq: number; text: string } {
    const cseq = ++this.cseq;
    const all = { CSeq: String(cseq), ...(this.session ? { Session: this.session } : {}), ...headers };
    return {
      cseq,
      text: `${method} ${uri} RTSP/1.0\r\n${Object.entries(all)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}\r\n`,
    };
  }

  reply(cseq: number): Promise<{ status: number; headers: string; body: string }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to request ${cseq}`)), 5000);
      this.waiting.set(cseq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  async request(method: string, uri: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: string; body: string }> {
    const { cseq, text } = this.format(method, uri, headers);
    const reply = this.reply(cseq);
    this.socket.write(text);
    return reply;
  }

  /** DESCRIBE, SETUP over TCP with channels 0-1, PLAY. */
  async play(): Promise<void> {
    const describe = await this.request('DESCRIBE', this.url, { Accept: 'application/sdp' });
    assert.equal(describe.status, 200);
    const control = /a=control:(streamid=\d+)/.exec(describe.body)![1];
    const setup = await this.request('SETUP', `${this.url}/${control}`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    assert.equal(setup.status, 200, setup.headers);
    assert.match(setup.headers, /Transport: RTP\/AVP\/TCP;unicast;interleaved=0-1/);
    this.session = /Session:\s*([^;\r\n]+)/.exec(setup.headers)![1];
    assert.equal((await this.request('PLAY', this.url)).status, 200);
  }
}

const dir = tmpDir();
let clipFile: string | null = null;
const clip = () => (clipFile ??= makeCameraClip(dir, { width: W, height: H }));

test('a TCP reader (-rtsp_transport tcp) reads 25 whole frames', { timeout: 45_000 }, async () => {
  const { server, url } = await servedCamera(clip());
  const got = await readFrames(url, 'tcp', 25);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.bytes, 25 * W * H, got.stderr);
  await waitFor('the finished reader to leave', () => server.readers('cam') === 0, 3000, 50);
});

test('a TCP reader and a UDP reader at once both read 25 whole frames', { timeout: 45_000 }, async () => {
  const { server, url } = await servedCamera(clip());
  let most = 0;
  const poll = setInterval(() => (most = Math.max(most, server.readers('cam'))), 50);
  const [tcp, udp] = await Promise.all([readFrames(url, 'tcp', 25), readFrames(url, 'udp', 25)]);
  clearInterval(poll);
  assert.equal(tcp.code, 0, tcp.stderr);
  assert.equal(tcp.bytes, 25 * W * H, tcp.stderr);
  assert.equal(udp.code, 0, udp.stderr);
  assert.equal(udp.bytes, 25 * W * H, udp.stderr);
  assert.equal(most, 2, 'both read at the same time');
});

test('a TCP reader killed mid-stream: its session goes at once, the other readers go on, a new one is served', { timeout: 45_000 }, async () => {
  const { server, url } = await servedCamera(clip());
  const doomed = keepReading(url, 'tcp');
  const tcp = keepReading(url, 'tcp');
  const udp = keepReading(url, 'udp');
  await waitFor('three readers decoding', () => doomed.frames() > 5 && tcp.frames() > 5 && udp.frames() > 5, 20_000, 100);
  assert.equal(server.readers('cam'), 3);
  await doomed.kill();
  // A UDP session would linger for the library's 60 s keepalive; a closed connection ends it.
  await waitFor('the killed reader to leave', () => server.readers('cam') === 2, 3000, 50);
  const [t0, u0] = [tcp.frames(), udp.frames()];
  await waitFor('the others to go on', () => tcp.frames() >= t0 + 12 && udp.frames() >= u0 + 12, 10_000, 100);
  const fresh = await readFrames(url, 'tcp', 25);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(fresh.bytes, 25 * W * H, fresh.stderr);
});

test("a reader's RTCP sent between and inside its requests does not break them", { timeout: 45_000 }, async () => {
  const { url } = await servedCamera(clip());
  const raw = new RawReader(url);
  await raw.play();
  await waitFor('media on channel 0', () => (raw.frames.get(0) ?? 0) > 10, 10_000, 50);
  const rr = Buffer.from([0x24, 1, 0, 8, 0x81, 0xc9, 0, 1, 0, 0, 0, 1]);
  const first = raw.format('OPTIONS', url);
  const second = raw.format('GET_PARAMETER', url);
  const replies = [raw.reply(first.cseq), raw.reply(second.cseq)];
  raw.socket.write(Buffer.concat([rr, Buffer.from(first.text), rr.subarray(0, 6)]));
  raw.socket.write(Buffer.concat([rr.subarray(6), Buffer.from(second.text.slice(0, 20))]));
  raw.socket.write(second.text.slice(20));
  const [a, b] = await Promise.all(replies);
  assert.equal(a.status, 200);
  assert.equal(b.status, 501, 'parsed as the request it is (the library does not implement GET_PARAMETER)');
  const before = raw.frames.get(0)!;
  await waitFor('media still flowing', () => raw.frames.get(0)! > before + 10, 5000, 50);
  const teardown = await raw.request('TEARDOWN', url);
  assert.equal(teardown.status, 200);
});

test('a malformed request closes its own connection, logged, while a TCP reader of the same server goes on', { timeout: 45_000 }, async () => {
  const errors: string[] = [];
  const { url } = await servedCamera(clip(), { onError: (err) => errors.push(err.message) });
  const reader = keepReading(url, 'tcp');
  await waitFor('the reader decoding', () => reader.frames() > 5, 20_000, 100);
  const u = new URL(url);
  const bad = connect(Number(u.port), u.hostname, () => bad.write('hello there\r\n\r\n'));
  bad.on('error', () => {});
  await new Promise((r) => bad.once('close', r));
  assert.match(errors.join('\n'), /Invalid RTSP Request-Line/);
  const n = reader.frames();
  await waitFor('the reader to go on', () => reader.frames() >= n + 12, 10_000, 100);
});

test('a TCP reader that stops reading has its packets dropped and counted at the limit, and others go on', { timeout: 45_000 }, async () => {
  // A lossless 720p clip, about 1.6 MB/s: the kernel's socket buffers on loopback take a few
  // MB before anything waits in the server's own, so a slower stream would take long to get there.
  const big = path.join(dir, 'lossless.mp4');
  const [bw, bh] = [1280, 720];
  ffmpeg(['-i', CAR_CLIP, '-t', '2', '-an', '-vf', `scale=${bw}:${bh}`, '-r', '12.5', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '6', '-pix_fmt', 'yuv420p', big]);
  const limit = 64 * 1024;
  const { server, url } = await servedCamera(big, { tcpMaxQueuedBytes: limit });
  const raw = new RawReader(url);
  await raw.play();
  await waitFor('media on channel 0', () => (raw.frames.get(0) ?? 0) > 0, 10_000, 50);
  raw.socket.pause();
  await waitFor('packets dropped for the stalled reader', () => server.tcpDroppedPackets('cam') > 0, 20_000, 50);
  const queued = () => Math.max(...[...(server as any).sockets].map((s: Socket) => s.writableLength));
  const other = readFrames(url, 'tcp', 25);
  for (let i = 0; i < 10; i++) {
    assert.ok(queued() <= limit + 65_540, `queued ${queued()} bytes`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const got = await other;
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.bytes, 25 * bw * bh, got.stderr);
  assert.ok(queued() <= limit + 65_540, `queued ${queued()} bytes`);
  raw.socket.destroy();
  await waitFor('the stalled reader to leave once gone', () => server.readers('cam') === 0, 3000, 50);
});
