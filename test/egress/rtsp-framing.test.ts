// The byte framing of an RTSP connection that carries interleaved RTP, cut into every possible
// pair of pieces, since TCP delivers it in arbitrary ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterleavedDemuxer, WholeMessageWriter, interleavedFrame } from '../../src/egress/rtsp/rtsp-framing.ts';
import { chooseTransport } from '../../src/egress/rtsp/transport-header.ts';

const OPTIONS = 'OPTIONS rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 5\r\nSession: abc\r\n\r\n';
const SET_PARAMETER = 'SET_PARAMETER rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 6\r\nContent-Length: 6\r\n\r\n$abcde';

function demux(pieces: Buffer[]): Promise<{ text: string; channels: number[] }> {
  return new Promise((resolve, reject) => {
    const channels: number[] = [];
    const d = new InterleavedDemuxer((ch) => channels.push(ch));
    const out: Buffer[] = [];
    d.on('data', (c: Buffer) => out.push(c));
    d.on('end', () => resolve({ text: Buffer.concat(out).toString('latin1'), channels }));
    d.on('error', reject);
    for (const p of pieces) d.write(p);
    d.end();
  });
}

test('interleaved frames between requests are taken out, however the bytes are cut; a body that starts with $ is kept', async () => {
  const rtcp = Buffer.from([0x81, 0xc9, 0x00, 0x01, 1, 2, 3, 4]);
  const wire = Buffer.concat([interleavedFrame(1, rtcp), Buffer.from(OPTIONS), interleavedFrame(3, Buffer.alloc(300, 0x24)), Buffer.from(SET_PARAMETER), interleavedFrame(1, rtcp)]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const got = await demux([wire.subarray(0, cut), wire.subarray(cut)]);
    assert.equal(got.text, OPTIONS + SET_PARAMETER, `cut at ${cut}`);
    assert.deepEqual(got.channels, [1, 3, 1], `cut at ${cut}`);
  }
  const byteByByte = await demux([...wire].map((b) => Buffer.from([b])));
  assert.equal(byteByByte.text, OPTIONS + SET_PARAMETER);
});

test('a frame is $, the channel, the 16-bit length and the packet', () => {
  const f = interleavedFrame(2, Buffer.from('hello'));
  assert.deepEqual([...f.subarray(0, 4)], [0x24, 2, 0, 5]);
  assert.equal(f.subarray(4).toString(), 'hello');
});

test('responses written in pieces go out whole, one per message, bodies included', () => {
  const sent: string[] = [];
  const w = new WholeMessageWriter((m) => sent.push(m.toString()));
  const sdp = 'v=0\r\no=- 1\r\n\r\n';
  const describe = `RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`;
  const setup = 'RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n';
  for (const piece of (describe + setup).match(/[\s\S]{1,7}/g)!) {
    w.push(piece);
    assert.ok(
      sent.every((m) => m === describe || m === setup),
      'never part of a message',
    );
  }
  assert.deepEqual(sent, [describe, setup]);
});

test('the transport chosen is the first offered that is served; TCP channels are kept or assigned', () => {
  assert.deepEqual(chooseTransport('RTP/AVP/TCP;unicast;interleaved=0-1'), { kind: 'tcp', profile: 'RTP/AVP/TCP', channels: [0, 1] });
  assert.deepEqual(chooseTransport('RTP/AVP/TCP;unicast;interleaved=4'), { kind: 'tcp', profile: 'RTP/AVP/TCP', channels: [4, 5] });
  assert.deepEqual(chooseTransport('RTP/AVP/TCP;unicast'), { kind: 'tcp', profile: 'RTP/AVP/TCP', channels: null });
  assert.deepEqual(chooseTransport('RTP/AVP;unicast;client_port=5000-5001'), { kind: 'udp', spec: 'RTP/AVP;unicast;client_port=5000-5001' });
  assert.deepEqual(chooseTransport('RTP/AVP;unicast;client_port=5000-5001, RTP/AVP/TCP;unicast;interleaved=0-1'), { kind: 'udp', spec: 'RTP/AVP;unicast;client_port=5000-5001' });
  assert.deepEqual(chooseTransport('RTP/AVP;multicast, RTP/AVP/TCP;interleaved=2-3'), { kind: 'tcp', profile: 'RTP/AVP/TCP', channels: [2, 3] });
  assert.equal(chooseTransport('RTP/AVP;unicast'), null, 'UDP without client ports');
  assert.equal(chooseTransport('RAW/RAW/UDP;unicast;client_port=5000-5001'), null);
  assert.equal(chooseTransport(''), null);
});
