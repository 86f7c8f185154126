// The optional bearer token. Browsers cannot set headers on WebSocket or <img> requests, so
// `?token=` is accepted as well.
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
