// The RTSP server `serve` starts itself (rtsp-streaming-server): our encoders publish to it on
// a loopback-only port over UDP, readers play rtsp://<host>:<port>/<id> with RTP over UDP (the
// library's) or interleaved in their RTSP connection (ours, tcp-interleave.ts), for readers
// behind NAT, firewalls or container port maps that UDP does not cross.
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import { Client, ClientServer, Mount, RtpUdp, RtspServer } from 'rtsp-streaming-server';
import { UserError } from '../../errors.js';
import { setupTcpReader, wireConnection, type TcpLimits } from './tcp-interleave.js';
import { chooseTransport } from './transport-header.js';

export interface EmbeddedRtspOptions {
  /** where readers connect (the publish side is always 127.0.0.1) */
  host: string;
  port: number;
  rtpPortStart: number;
  rtpPortCount: number;
  /** 0: any free port */
  publishPort?: number;
  /** which mount paths (without the slash) may be published; default: any */
  allowPublish?: (path: string) => boolean;
  /** bytes a TCP reader may leave unread before its packets are dropped (default 1 MiB) */
  tcpMaxQueuedBytes?: number;
  onError?: (err: Error) => void;
}

// The library binds its RTP/RTCP sockets on every interface and misreads Node's EADDRINUSE
// (it compares errno, a number, with the string). One bind replaces both, so the sockets
// follow the configured host and a taken port is skipped as the library intends.
let udpHost = '0.0.0.0';
function bindUdp(sock: UdpSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(Object.assign(err, { errno: err.code }));
    sock.once('error', onError);
    sock.bind(port, udpHost, () => {
      sock.removeListener('error', onError);
      resolve();
    });
  });
}
RtpUdp.prototype.listen = function (this: RtpUdp) {
  return bindUdp(this.server, this.port);
};
(Client.prototype as unknown as { listen: () => Promise<void> }).listen = async function (this: Client) {
  await bindUdp(this.rtpServer, this.rtpServerPort!);
  await bindUdp(this.rtcpServer, this.rtcpServerPort!);
};

// A reader may ask for a stream the publisher has announced but not yet set up (a camera
// starting, our own encoder restarting). The library then makes a client with no stream,
// prints a stack trace, and later throws in a promise nobody awaits, which would end the
// process. Such a reader is told the stream is not there (it retries), and a client without a
// stream simply leaves.
// The library answers any mention of TCP with 461 and throws (ending the process the same way)
// on a UDP transport without client ports; the first transport offered that we serve is chosen.
const TCP_MAX_QUEUED = 1 << 20;
const tcpLimits = new WeakMap<ClientServer, TcpLimits>();
const setupRequest = ClientServer.prototype.setupRequest;
ClientServer.prototype.setupRequest = async function (this: ClientServer, req, res) {
  const m = /^(.*)\/streamid=(\d+)$/.exec(new URL(req.uri).pathname);
  const mount = this.mounts.getMount(req.uri);
  if (m && !mount?.streams[Number(m[2])]) {
    res.statusCode = 404;
    return res.end();
  }
  const choice = chooseTransport(req.headers.transport ?? '');
  if (!choice) {
    res.statusCode = 461;
    return res.end();
  }
  if (choice.kind === 'tcp') {
    if (!m) {
      res.statusCode = 404;
      return res.end();
    }
    return setupTcpReader(this, req, res, choice, Number(m[2]), tcpLimits.get(this) ?? { maxQueuedBytes: TCP_MAX_QUEUED });
  }
  req.headers.transport = choice.spec;
  return setupRequest.call(this, req, res);
};
const clientLeave = Mount.prototype.clientLeave;
Mount.prototype.clientLeave = function (this: Mount, client: Client) {
  if (!client.stream || !this.streams[client.stream.id]) return;
  clientLeave.call(this, client);
};

function listen(server: Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE' ? new UserError(`${what} ${host}:${port} is already in use (set rtsp.port in the config, or --rtsp-port)`) : new UserError(`${what} ${host}:${port}: ${err.message}`),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export class EmbeddedRtspServer {
  private readonly lib: RtspServer;
  private readonly sockets = new Set<Socket>();
  private readonly tcpDrops = new Map<string, number>();
  /** each published path's publisher connection */
  private readonly publishers = new Map<string, Socket>();
  port = 0;
  publishPort = 0;

  constructor(private readonly opts: EmbeddedRtspOptions) {
    this.lib = new RtspServer({
      serverPort: opts.publishPort ?? 0,
      clientPort: opts.port,
      rtpPortStart: opts.rtpPortStart,
      rtpPortCount: opts.rtpPortCount,
      publishServerHooks: {
        // A new publisher replaces a stale one (an encoder restarted after it died without
        // TEARDOWN), instead of being refused while the old mount lingers.
        checkMount: async (req) => {
          const path = new URL(req.uri).pathname.replace(/^\/+/, '').split('/streamid=')[0];
          if (opts.allowPublish && !opts.allowPublish(path)) return false;
          this.dropMount(path);
          this.watchPublisher(path, req.socket as Socket);
          return true;
        },
      },
    });
    tcpLimits.set(this.lib.ClientServer, {
      maxQueuedBytes: opts.tcpMaxQueuedBytes ?? TCP_MAX_QUEUED,
      onDrop: (path) => this.tcpDrops.set(path, (this.tcpDrops.get(path) ?? 0) + 1),
    });
  }

  async start(): Promise<void> {
    udpHost = this.opts.host;
    const pub = this.lib.PublishServer.server as unknown as Server;
    const cli = this.lib.ClientServer.server as unknown as Server;
    // Ahead of the library's own listener, which pipes the socket to its parser.
    cli.prependListener('connection', (sock: Socket) => wireConnection(sock, (err) => this.opts.onError?.(err)));
    for (const s of [pub, cli])
      s.on('connection', (sock: Socket) => {
        this.sockets.add(sock);
        sock.once('close', () => this.sockets.delete(sock));
      });
    this.publishPort = await listen(pub, this.opts.publishPort ?? 0, '127.0.0.1', 'the RTSP publish port');
    try {
      this.port = await listen(cli, this.opts.port, this.opts.host, 'rtsp.port');
    } catch (err) {
      pub.close();
      throw err;
    }
    // A malformed request makes the library emit 'error' on the server: log it, never crash.
    const onError = (err: Error) => this.opts.onError?.(err);
    pub.on('error', onError);
    cli.on('error', onError);
  }

  /** Where an encoder publishes stream `id`. */
  publishUrl(id: string): string {
    return `rtsp://127.0.0.1:${this.publishPort}/${id}`;
  }

  /** Where readers play stream `id`. */
  readUrl(id: string): string {
    const host = isWildcard(this.opts.host) ? '127.0.0.1' : this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `rtsp://${host}:${this.port}/${id}`;
  }

  /** RTSP sessions playing stream `id` now. */
  readers(id: string): number {
    let n = 0;
    for (const wrapper of Object.values(this.lib.ClientServer.clients)) if (wrapper.mount?.path === `/${id}`) n++;
    return n;
  }

  /** RTP/RTCP packets of stream `id` not sent to TCP readers that were too far behind. */
  tcpDroppedPackets(id: string): number {
    return this.tcpDrops.get(`/${id}`) ?? 0;
  }

  /** Whether stream `id` is being published and its media flows (readers can play it). */
  published(id: string): boolean {
    const mount = this.lib.Mounts.getMount(`rtsp://127.0.0.1/${id}`);
    const streams = Object.values(mount?.streams ?? {});
    return streams.length > 0 && streams.every((s) => !!s.listenerRtp);
  }

  /**
   * A publisher whose connection closes (killed, crashed, its host gone) takes its stream with
   * it, as a publisher's TEARDOWN does: the library would keep the mount, so readers would still
   * be let in (DESCRIBE, SETUP and PLAY answered) to a stream that sends nothing, and hang
   * there, and the stream would still count as published.
   */
  private watchPublisher(path: string, sock: Socket): void {
    this.publishers.set(path, sock);
    sock.once('close', () => {
      // (a newer publisher of the path replaced this one: its stream stays)
      if (this.publishers.get(path) !== sock) return;
      this.publishers.delete(path);
      this.dropMount(path);
    });
  }

  /** Forgets a published stream (its encoder stopped): its readers are let go first. */
  private dropMount(path: string): void {
    const uri = `rtsp://127.0.0.1/${path}`;
    if (!this.lib.Mounts.getMount(uri)) return;
    for (const wrapper of Object.values(this.lib.ClientServer.clients)) {
      if (wrapper.mount?.path !== `/${path}`) continue;
      try {
        wrapper.close();
      } catch {
        /* already gone */
      }
    }
    this.lib.Mounts.deleteMount(uri);
  }

  unpublish(id: string): void {
    this.dropMount(id);
  }

  async close(): Promise<void> {
    for (const path of Object.keys(this.lib.Mounts.mounts)) this.dropMount(path.replace(/^\//, ''));
    // Sessions whose stream went away on its own still hold a 60 s keepalive timer.
    for (const wrapper of Object.values(this.lib.ClientServer.clients)) {
      try {
        wrapper.close();
      } catch {
        /* already gone */
      }
    }
    for (const s of this.sockets) s.destroy();
    const close = (s: Server) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()));
    await Promise.all([close(this.lib.PublishServer.server as unknown as Server), close(this.lib.ClientServer.server as unknown as Server)]);
  }
}
