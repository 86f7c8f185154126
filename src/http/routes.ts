// The HTTP API of `derain serve`:
//   GET /livez                            200 while the process serves HTTP (liveness probes)
//   GET /healthz                          200 when every stream is live, else 503 with each stream's reason
//   GET /metrics                          Prometheus text format
//   GET /api/streams                      every stream's status (protocol/api.ts StreamList), and the shard
//   GET /api/streams/<id>                 one stream's status
//   GET /api/streams/<id>/snapshot.jpg    the newest derained frame; ?raw=1 for the input frame
// With a token configured, /api/* needs it (as does /ws/*); /healthz and /metrics stay open
// for probes and scrapers, and show no credentials.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamList } from '../protocol/api.js';
import type { StreamDirectory } from './api-types.js';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: RegExp;
  /** needs the bearer token when one is configured */
  auth: boolean;
  handle(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, url: URL): void | Promise<void>;
}

/** A URL path segment, decoded; null when it is not valid percent-encoding. */
export function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function apiRoutes(dir: StreamDirectory): Route[] {
  return [
    {
      // liveness: the process answers HTTP (restart it when not); /healthz says whether the cameras are live
      method: 'GET',
      path: /^\/livez$/,
      auth: false,
      handle(_req, res) {
        sendJson(res, 200, { status: 'alive', streams: dir.list().length });
      },
    },
    {
      method: 'GET',
      path: /^\/healthz$/,
      auth: false,
      handle(_req, res) {
        const streams = dir.list();
        const bad = streams.filter((s) => s.state !== 'live');
        sendJson(res, bad.length ? 503 : 200, {
          status: bad.length ? 'unhealthy' : 'ok',
          streams: Object.fromEntries(streams.map((s) => [s.id, { state: s.state, reason: s.reason }])),
        });
      },
    },
    {
      method: 'GET',
      path: /^\/metrics$/,
      auth: false,
      async handle(_req, res) {
        const text = await dir.registry.metrics();
        res.writeHead(200, { 'content-type': dir.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
    },
    {
      method: 'GET',
      path: /^\/api\/streams\/?$/,
      auth: true,
      handle(_req, res) {
        sendJson(res, 200, { shard: dir.shard, streams: dir.list() } satisfies StreamList);
      },
    },
    {
      method: 'GET',
      path: /^\/api\/streams\/([^/]+)\/?$/,
      auth: true,
      handle(_req, res, m) {
        const id = safeDecode(m[1]);
        const s = id === null ? undefined : dir.get(id);
        if (!s) return sendJson(res, 404, { error: `no stream "${id ?? m[1]}"` });
        sendJson(res, 200, s);
      },
    },
    {
      method: 'GET',
      path: /^\/api\/streams\/([^/]+)\/snapshot\.jpg$/,
      auth: true,
      async handle(_req, res, m, url) {
        const id = safeDecode(m[1]);
        if (id === null || !dir.get(id)) return sendJson(res, 404, { error: `no stream "${id ?? m[1]}"` });
        const raw = ['1', 'true', 'yes'].includes(url.searchParams.get('raw') ?? '');
        const jpeg = await dir.snapshot(id, raw);
        if (!jpeg) return sendJson(res, 503, { error: `stream "${id}" has no frame yet` });
        res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store', 'content-length': jpeg.length });
        res.end(jpeg);
      },
    },
  ];
}
