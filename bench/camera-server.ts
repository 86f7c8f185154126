// The live bench's cameras' RTSP server, in a process of its own so that its CPU (relaying
// every camera's packets) counts as the cameras', not the service's.
//   node --import tsx bench/camera-server.ts <rtpPortStart> <rtpPortCount>
// prints one JSON line, {"port", "publishPort"}, once listening, and stops when stdin closes.
import { EmbeddedRtspServer } from '../src/egress/rtsp/embedded-server.ts';

const [rtpPortStart, rtpPortCount] = process.argv.slice(2).map(Number);
const server = new EmbeddedRtspServer({ host: '127.0.0.1', port: 0, rtpPortStart, rtpPortCount });
await server.start();
process.stdout.write(JSON.stringify({ port: server.port, publishPort: server.publishPort }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => {
  void server.close().then(() => process.exit(0));
});
