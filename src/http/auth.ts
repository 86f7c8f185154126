// The optional bearer token. Browsers cannot set headers on WebSocket or <img> requests, so
// `?token=` is accepted as well. And the Origin check of WebSocket upgrades: a browser lets any
// page open a WebSocket to any server, saying only which page it is (Origin).
import { timingSafeEqual, createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

// (both sides hashed: timingSafeEqual needs equal lengths, and comparing lengths first would tell the token's)
const digest = (s: string) => createHash('sha256').update(s).digest();

/** What a request presents: no token (or an empty one), the configured token, or another. Constant time in the token. */
export function presentedToken(req: IncomingMessage, url: URL, token: string): 'none' | 'ok' | 'wrong' {
  const header = req.headers.authorization;
  const given = header?.match(/^Bearer\s+(.+)$/i)?.[1].trim() ?? url.searchParams.get('token');
  if (!given) return 'none';
  return timingSafeEqual(digest(given), digest(token)) ? 'ok' : 'wrong';
}

export interface GuessLimits {
  /** wrong tokens from one client within `windowMs` that get it blocked */
  maxWrong: number;
  windowMs: number;
  /** how long a blocked client gets 429 for every request that needs the token */
  blockMs: number;
  /** clients remembered at most (a flood of addresses must not grow the table without end) */
  maxClients: number;
}

export const GUESS_LIMITS: GuessLimits = { maxWrong: 10, windowMs: 60_000, blockMs: 60_000, maxClients: 10_000 };

/**
 * The client a guess is counted against: its address, or for IPv6 its /64 (one host usually holds
 * a whole /64, and would otherwise get 2^64 fresh tries).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return '?';
  const a = address.toLowerCase();
  if (!isIPv6(a) || a.startsWith('::ffff:')) return a;
  const [head, tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = a.includes('::') && tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export type Admission = { ok: true } | { ok: false; status: 401; error: string } | { ok: false; status: 429; error: string; retryAfterS: number };

/**
 * The token check of requests that need it, with a limit on guessing: a client that sends
 * `maxWrong` wrong tokens within `windowMs` gets 429 for `blockMs`, its token not even looked at
 * (else a blocked client could go on guessing and tell a hit by the answer). Requests without a
 * token do not count: a dashboard that has none yet asks without one.
 */
export class TokenGate {
  private readonly wrong = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(
    private readonly token: string | undefined,
    private readonly limits: GuessLimits = GUESS_LIMITS,
    private readonly log?: (msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  admit(req: IncomingMessage, url: URL): Admission {
    if (!this.token) return { ok: true };
    const key = clientKey(req.socket.remoteAddress);
    const t = this.now();
    const until = this.blocked.get(key);
    if (until !== undefined && until > t) {
      const retryAfterS = Math.ceil((until - t) / 1000);
      return { ok: false, status: 429, retryAfterS, error: `too many wrong tokens from this address: try again in ${retryAfterS} s` };
    }
    if (until !== undefined) this.blocked.delete(key);
    const given = presentedToken(req, url, this.token);
    if (given === 'ok') {
      this.wrong.delete(key);
      return { ok: true };
    }
    if (given === 'wrong') this.countWrong(key, t);
    return { ok: false, status: 401, error: 'a bearer token is required (Authorization: Bearer <token>, or ?token=)' };
  }

  private countWrong(key: string, t: number): void {
    const { maxWrong, windowMs, blockMs } = this.limits;
    const times = (this.wrong.get(key) ?? []).filter((x) => x > t - windowMs);
    times.push(t);
    // (re-inserted: the table stays in order of last use, oldest first, for forget())
    this.wrong.delete(key);
    if (times.length < maxWrong) this.wrong.set(key, times);
    else {
      this.blocked.set(key, t + blockMs);
      this.log?.(`HTTP: ${times.length} wrong tokens from ${key} within ${windowMs / 1000} s: it gets 429 for ${blockMs / 1000} s`);
    }
    this.forget(t);
  }

  /** Keeps the tables within maxClients: expired entries first, then the longest unused. */
  private forget(t: number): void {
    const { maxClients, windowMs } = this.limits;
    if (this.wrong.size + this.blocked.size <= maxClients) return;
    for (const [k, times] of this.wrong) if (times[times.length - 1] <= t - windowMs) this.wrong.delete(k);
    for (const [k, until] of this.blocked) if (until <= t) this.blocked.delete(k);
    for (const table of [this.wrong, this.blocked]) {
      for (const k of table.keys()) {
        if (this.wrong.size + this.blocked.size <= maxClients) return;
        table.delete(k);
      }
    }
  }
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
