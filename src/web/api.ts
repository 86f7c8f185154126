// What the dashboard reads from GET /api/streams (the server's StreamStatus), and the
// authorised requests it makes.
import type { StreamStatus } from '../protocol/api.js';
import { authHeaders } from './auth.js';

export type { StreamState as ServerState } from '../protocol/api.js';
/** What the dashboard shows of a stream: the server's StreamStatus (src/protocol). */
export type StreamView = StreamStatus;

export class Unauthorized extends Error {
  constructor() {
    super('the server needs an access token');
  }
}

/** The server blocks this address for a while after too many wrong tokens (429). */
export class TooManyTries extends Error {
  constructor(readonly retryAfterS: number) {
    super(`Too many wrong tokens from this address: try again in ${retryAfterS} s.`);
  }
}

export async function fetchStreams(token: string | null, signal?: AbortSignal): Promise<StreamView[]> {
  const res = await fetch('/api/streams', { headers: authHeaders(token), cache: 'no-store', signal });
  if (res.status === 401) throw new Unauthorized();
  if (res.status === 429) throw new TooManyTries(Number(res.headers.get('retry-after')) || 60);
  if (!res.ok) throw new Error(`GET /api/streams: HTTP ${res.status}`);
  const body = (await res.json()) as { streams: StreamView[] };
  return body.streams;
}

export async function fetchSnapshot(id: string, token: string | null): Promise<Blob> {
  const res = await fetch(`/api/streams/${encodeURIComponent(id)}/snapshot.jpg`, { headers: authHeaders(token), cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error(`no snapshot yet (HTTP ${res.status})`);
  return res.blob();
}

/** ws(s)://host/ws/<id>?format=jpeg[&raw=1][&token=…]: browsers cannot set headers on WebSockets. */
export function frameSocketUrl(base: string, id: string, opts: { raw: boolean; token: string | null }): string {
  const url = new URL(`/ws/${encodeURIComponent(id)}`, base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('format', 'jpeg');
  if (opts.raw) url.searchParams.set('raw', '1');
  if (opts.token) url.searchParams.set('token', opts.token);
  return url.href;
}
