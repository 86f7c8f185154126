// Readers that take RTP over their RTSP connection (RFC 2326 §10.12, `-rtsp_transport tcp`):
// the library only does UDP, so a TCP SETUP is answered here with a session client of our own
// that the library's mount fans packets out to like any other, and that writes them as `$`
// frames on the reader's socket.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { ClientWrapper, type Client, type ClientServer, type Mount } from 'rtsp-streaming-server';
import { InterleavedDemuxer, WholeMessageWriter, interleavedFrame } from './rtsp-framing.js';

type MountStream = Mount['streams'][number];

export interface TcpLimits {
  /** bytes waiting on a reader's socket past which its packets are dropped */
  maxQueuedBytes: number;
  onDrop?: (mountPath: string) => void;
}

interface Request {
  uri: string;
  headers: Record<string, string | undefined>;
  socket: Socket;
}
interface Response {
  statusCode: number;
  setHeader(name: string, value: string): void;
  end(): void;
}

const connections = new WeakMap<Socket, RtspConnection>();

function registered(wrapper: ClientWrapper): boolean {
  return wrapper.clientServer.clients[wrapper.id] === wrapper;
}

class RtspConnection {
  private readonly clients = new Set<TcpClient>();
  private readonly sessions = new Set<ClientWrapper>();

  constructor(
    readonly socket: Socket,
    readonly send: (data: Buffer) => void,
  ) {}

  adopt(client: TcpClient, session: ClientWrapper): void {
    this.clients.add(client);
    this.sessions.add(session);
  }

  /** A reader's RTCP keeps its sessions alive, as the library does for RTCP over UDP. */
  alive(): void {
    for (const s of this.sessions) if (registered(s)) s.keepalive();
  }

  // A session that ends while its reader stays connected (stream unpublished, keepalive
  // timeout, TEARDOWN) ends the connection too: a TCP reader waits on a silent socket forever,
  // where a UDP reader times out. The end waits a turn so that a TEARDOWN's reply goes first.
  clientClosed(client: TcpClient): void {
    this.clients.delete(client);
    if (this.clients.size === 0)
      setImmediate(() => {
        if (this.clients.size === 0 && !this.socket.destroyed) this.socket.end();
      });
  }

  /** The reader went away: its sessions go now, not after the library's 60 s keepalive. */
  closed(): void {
    for (const s of this.sessions)
      if (registered(s))
        try {
          s.close();
        } catch {
          /* already gone */
        }
    this.sessions.clear();
  }
}

/** Installs the framing on a new reader connection; must run before the library pipes the socket. */
export function wireConnection(socket: Socket, onBadInput?: (err: Error) => void): void {
  const write = socket.write.bind(socket) as (data: Buffer) => boolean;
  const conn = new RtspConnection(socket, (data) => {
    if (!socket.destroyed && socket.writable) write(data);
  });
  connections.set(socket, conn);
  const writer = new WholeMessageWriter(conn.send);
  socket.write = ((chunk: Buffer | string, encoding?: BufferEncoding | (() => void)) => {
    writer.push(chunk, typeof encoding === 'string' ? encoding : undefined);
    return true;
  }) as Socket['write'];
  const pipe = socket.pipe;
  socket.pipe = (<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T => {
    socket.pipe = pipe;
    const demux = new InterleavedDemuxer(() => conn.alive());
    demux.once('error', (err) => {
      onBadInput?.(err);
      socket.destroy();
    });
    return socket.pipe(demux).pipe(dest, opts);
  }) as Socket['pipe'];
  socket.once('close', () => conn.closed());
}

/** One stream of one session, sent on the reader's own connection; duck-types the library's Client. */
class TcpClient {
  open = true;
  readonly id = randomUUID();

  constructor(
    readonly mount: Mount,
    readonly stream: MountStream,
    private readonly conn: RtspConnection,
    private readonly channels: [number, number],
    private readonly limits: TcpLimits,
  ) {}

  play(): void {
    this.stream.clients[this.id] = this as unknown as Client;
  }

  sendRtp(packet: Buffer): void {
    this.send(this.channels[0], packet);
  }

  sendRtcp(packet: Buffer): void {
    this.send(this.channels[1], packet);
  }

  // A reader slower than the stream would otherwise queue it in memory without end.
  private send(channel: number, packet: Buffer): void {
    if (!this.open) return;
    if (this.conn.socket.writableLength > this.limits.maxQueuedBytes) {
      this.limits.onDrop?.(this.mount.path);
      return;
    }
    this.conn.send(interleavedFrame(channel, packet));
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.mount.clientLeave(this as unknown as Client);
    this.conn.clientClosed(this);
  }
}

/** Answers a SETUP whose chosen transport is RTP/AVP/TCP, for stream `streamId` of the request's mount. */
export async function setupTcpReader(
  server: ClientServer,
  req: Request,
  res: Response,
  choice: { profile: string; channels: [number, number] | null },
  streamId: number,
  limits: TcpLimits,
): Promise<void> {
  const checkAuthenticated = (server as unknown as { checkAuthenticated(req: Request, res: Response): Promise<boolean> }).checkAuthenticated;
  if (!(await checkAuthenticated.call(server, req, res))) return res.end();
  const conn = connections.get(req.socket);
  const mount = server.mounts.getMount(req.uri);
  const stream = mount?.streams[streamId];
  if (!conn || !mount || !stream) {
    res.statusCode = conn ? 404 : 461;
    return res.end();
  }
  let session: ClientWrapper | undefined;
  if (req.headers.session) {
    session = server.clients[req.headers.session];
    if (!session) {
      res.statusCode = 454;
      return res.end();
    }
  } else {
    session = new ClientWrapper(server, req);
    server.clients[session.id] = session;
  }
  const channels = choice.channels ?? [2 * streamId, 2 * streamId + 1];
  const client = new TcpClient(mount, stream, conn, channels, limits);
  session.clients[client.id] = client as unknown as Client;
  conn.adopt(client, session);
  // The reader left while we waited: nothing else would ever end this session.
  if (req.socket.destroyed) return conn.closed();
  res.setHeader('Session', `${session.id};timeout=30`);
  res.setHeader('Transport', `${choice.profile};unicast;interleaved=${channels[0]}-${channels[1]}`);
  res.end();
}
