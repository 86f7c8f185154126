// The HTTP server of `derain serve` (node:http): the routes of routes.ts, more routes from
// whoever adds them (the dashboard), and WebSocket upgrades at /ws/<id>?format=rgb24|jpeg
// (&raw=1: the input frames instead of the derained ones).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { UserError } from '../errors.js';
import { FORMATS, type WsFormat } from '../egress/ws/frame-header.js';
import type { StreamDirectory } from './api-types.js';
import { GUESS_LIMITS, TokenGate, originAllowed, type GuessLimits } from './auth.js';
import { apiRoutes, safeDecode, sendJson, type Route } from './routes.js';

export interface HttpOptions {
  host: string;
  port: number;
  token?: string;
  /**
   * Origins besides the server's own whose pages may open WebSockets (`https://wall.example.org`;
   * "*": any). Upgrades from other pages' Origins are refused (403); clients that send no
   * Origin (not browsers) are not.
   */
  allowedOrigins?: readonly string[];
  directory: StreamDirectory;
  /** the limit on guessing the token (default GUESS_LIMITS: 10 wrong in 60 s, then 429 for 60 s) */
  guessLimits?: GuessLimits;
  /** more routes, tried before the API's */
  routes?: Route[];
  log?: (msg: string) => void;
}

export interface HttpService {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * A client must send its request's headers within this, and the whole request within
 * REQUEST_TIMEOUT_MS, or it gets 408 and is closed: one that sends a byte now and then
 * (slowloris) would otherwise hold its connection for Node's defaults, 60 s and 300 s, checked
 * only every 30 s. Requests here are small GETs; WebSockets are past these once upgraded.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

function refuseUpgrade(socket: Duplex, status: number, text: string, headers: Record<string, string | number> = {}): void {
  const body = JSON.stringify({ error: text });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra.join('')}Connection: close\r\n\r\n${body}`);
}

export async function startHttp(opts: HttpOptions): Promise<HttpService> {
  const routes = [...(opts.routes ?? []), ...apiRoutes(opts.directory)];
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const refusedOrigins = new Set<string>();
  const gate = new TokenGate(opts.token, opts.guessLimits ?? GUESS_LIMITS, opts.log);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let pathMatched = false;
    for (const r of routes) {
      const m = r.path.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
      const admitted = r.auth ? gate.admit(req, url) : { ok: true as const };
      if (!admitted.ok) {
        if (admitted.status === 401) res.setHeader('www-authenticate', 'Bearer');
        else res.setHeader('retry-after', admitted.retryAfterS);
        return sendJson(res, admitted.status, { error: admitted.error });
      }
      return r.handle(req, res, m, url);
    }
    sendJson(res, pathMatched ? 405 : 404, { error: pathMatched ? `${req.method} is not allowed here` : `nothing at ${url.pathname}` });
  };

  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, (req, res) => {
    handle(req, res).catch((err: Error) => {
      opts.log?.(`HTTP ${req.method} ${req.url?.split('?')[0]}: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.destroy();
    });
  });

  server.on('upgrade', (req, socket, head) => {
    // (until ws takes the socket over, nothing else listens for its errors: a reset would crash)
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    // (before the token: a page from elsewhere learns nothing, not even whether a token it has works)
    if (!originAllowed(req, opts.allowedOrigins)) {
      const origin = String(req.headers.origin).slice(0, 200);
      // (once per Origin: a page retrying in a loop does not flood the log)
      if (refusedOrigins.size < 100 && !refusedOrigins.has(origin)) {
        refusedOrigins.add(origin);
        opts.log?.(`WebSocket refused (403): Origin ${JSON.stringify(origin)} is neither this server nor in server.allowedOrigins`);
      }
      return refuseUpgrade(socket, 403, 'Forbidden: this Origin may not open WebSockets here (server.allowedOrigins)');
    }
    const m = /^\/ws\/([^/]+)\/?$/.exec(url.pathname);
    const id = m ? safeDecode(m[1]) : null;
    if (id === null) return refuseUpgrade(socket, 404, 'Not Found');
    const admitted = gate.admit(req, url);
    if (!admitted.ok) return admitted.status === 401 ? refuseUpgrade(socket, 401, 'Unauthorized') : refuseUpgrade(socket, 429, 'Too Many Requests', { 'Retry-After': admitted.retryAfterS });
    const format = (url.searchParams.get('format') ?? 'jpeg') as WsFormat;
    if (!(format in FORMATS)) return refuseUpgrade(socket, 400, 'Bad Request: format must be rgb24 or jpeg');
    if (!opts.directory.get(id)) return refuseUpgrade(socket, 404, 'Not Found');
    const raw = ['1', 'true', 'yes'].includes(url.searchParams.get('raw') ?? '');
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!opts.directory.acceptWs(id, ws, format, raw)) ws.close(1013, 'stream not ready: no frame yet');
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UserError(`server.port ${opts.port} is already in use on ${opts.host} (set server.port in the config, or --port)`)
          : new UserError(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve((server.address() as { port: number }).port));
  });
  server.on('error', (err) => opts.log?.(`HTTP server: ${err.message}`));

  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
