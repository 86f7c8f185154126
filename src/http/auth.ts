// The optional bearer token. Browsers cannot set headers on WebSocket or <img> requests, so
// `?token=` is accepted as well. And the Origin check of WebSocket upgrades: a browser lets any
// page open a WebSocket to any server, saying only which page it is (Origin).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when no token is configured, or the request carries it. Constant time in the token. */
export function authorized(req: IncomingMessage, url: URL, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization;
  const given = header?.match(/^Bearer\s+(.+)$/i)?.[1].trim() ?? url.searchParams.get('token');
  if (!given) return false;
  return timingSafeEqual(digest(given), digest(token));
}

/** An origin as browsers send it: scheme://host[:port], lower case, without a default port or a slash at the end. */
export function normalOrigin(origin: string): string {
  const o = origin.trim().toLowerCase().replace(/\/+$/, '');
  try {
    const u = new URL(o);
    return u.origin === 'null' ? o : u.origin;
  } catch {
    return o;
  }
}

/**
 * Whether a WebSocket upgrade may go on, by its Origin header: none (a client that is not a
 * browser: it could send any Origin, so refusing it would protect nothing), the page's own
 * server (the Origin's host:port is the Host the request was sent to: the dashboard), or one
 * of `allowed` ("*": any). Everything else, "null" included (sandboxed frames, local files), is a
 * page from elsewhere that a browser would let read the cameras.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[] = []): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const o = normalOrigin(origin);
  if (allowed.some((a) => a === '*' || normalOrigin(a) === o)) return true;
  const host = req.headers.host?.toLowerCase();
  if (!host || o === 'null') return false;
  try {
    const u = new URL(o);
    // (URL drops a default port: compare with the Host header's as given, and without it)
    const withPort = u.port ? u.host : `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`;
    return host === u.host || host === withPort;
  } catch {
    return false;
  }
}
