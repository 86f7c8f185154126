// What a URL input is to ffmpeg: its scheme (one we read or not), the host ffmpeg connects to,
// and, when ffmpeg fails on it, the reasons that lie in the URL itself and that ffmpeg does not
// name (or names wrongly): a host name that does not resolve, a password that ffmpeg misreads.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** The URL schemes read as live inputs. */
export const URL_SCHEMES = ['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp', 'http', 'https'] as const;

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The scheme of a URL in lower case ("rtsp"), or null when the input is not a URL. */
export function urlScheme(input: string): string | null {
  return SCHEME.exec(input)?.[1].toLowerCase() ?? null;
}

/** What a live input is, decided here only: the built-in demo, an RTSP camera, another URL ffmpeg reads, or a file that stands in for a camera. */
export type LiveInputKind = 'demo' | 'rtsp' | 'url' | 'file';

export function liveInputKind(input: string): LiveInputKind {
  if (/^demo:/i.test(input)) return 'demo';
  const s = urlScheme(input);
  if (s === 'rtsp' || s === 'rtsps') return 'rtsp';
  return s === null ? 'file' : 'url';
}

/** Whether the input is a URL with one of URL_SCHEMES. */
export function isSupportedUrl(input: string): boolean {
  const s = urlScheme(input);
  return s !== null && (URL_SCHEMES as readonly string[]).includes(s);
}

/**
 * Why a URL input cannot be used because of its scheme (null when it can, or it is no URL).
 * `otherwise` names the inputs that are not URLs, for the message.
 */
export function unsupportedScheme(input: string, otherwise = 'a video file, a folder of images or a pattern such as frames/%03d.png'): string | null {
  const s = urlScheme(input);
  if (s === null || isSupportedUrl(input)) return null;
  return `the scheme "${s}://" is not supported (URLs: ${URL_SCHEMES.map((x) => `${x}://`).join(', ')}; or ${otherwise})`;
}

/**
 * The host and port ffmpeg reads from a URL (libavformat's av_url_split): the authority ends at
 * the first "/", "?" or "#" after "://"; the host follows its last "@"; the port follows the
 * first ":" after that (or "]" for an IPv6 address). Null when the input is not a URL.
 */
export function urlHost(url: string): { host: string; port: string | null } | null {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url);
  if (!m) return null;
  const hostPort = m[1].slice(m[1].lastIndexOf('@') + 1);
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostPort);
  if (v6) return { host: v6[1], port: v6[2] ?? null };
  const colon = hostPort.indexOf(':');
  return colon < 0 ? { host: hostPort, port: null } : { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/**
 * Why ffmpeg would misread a URL's credentials (null when it reads them as meant). A raw "/",
 * "?" or "#" in a password ends the host part for ffmpeg: rtsp://user:pa/ss@cam/live connects
 * to host "user", port "pa". (Raw "@" and ":" in a password are read as meant.) The message
 * quotes nothing of the URL: what ffmpeg took for the host holds part of the password.
 */
export function credentialsProblem(url: string): string | null {
  const h = urlHost(url);
  if (!h) return null;
  const afterAuthority = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const portBad = h.port !== null && !/^\d+$/.test(h.port);
  if (portBad && (h.port !== '' || afterAuthority.includes('@'))) {
    return 'malformed URL: ffmpeg reads the host and port up to the first "/", "?" or "#", and finds no port number there; a "/", "?" or "#" in a user name or password must be percent-encoded (%2F, %3F, %23)';
  }
  return null;
}

const LOOKUP_LIMIT_MS = 3000;

/** Why a host name cannot be looked up (null when it resolves, or when `host` is an IP address). */
export async function hostLookupProblem(host: string, timeoutMs = LOOKUP_LIMIT_MS): Promise<string | null> {
  if (!host || isIP(host)) return null;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), timeoutMs);
    });
    await Promise.race([lookup(host), timedOut]);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'TIMEOUT') return `the host name "${host}" does not resolve (no answer from DNS within ${timeoutMs / 1000} s)`;
    return `the host name "${host}" does not resolve (${code === 'ENOTFOUND' ? 'DNS: not found' : `DNS: ${code ?? (err as Error).message}`})`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why ffmpeg or ffprobe failed on a URL, when the URL says more than the tool did; null when it
 * does not. `crashed`: the tool died of a signal it did not get from us. (The bundled static
 * ffmpeg builds crash in glibc when they look up any host name, unless nscd runs.)
 */
export async function urlFailureReason(url: string, crashed: boolean): Promise<string | null> {
  const scheme = unsupportedScheme(url);
  if (scheme) return scheme;
  const creds = credentialsProblem(url);
  if (creds) return creds;
  const h = urlHost(url);
  if (!h || !h.host) return null;
  const dns = await hostLookupProblem(h.host);
  if (dns) return dns;
  if (crashed && !isIP(h.host)) {
    return `ffmpeg crashed looking up the host name "${h.host}" (static ffmpeg builds, such as the bundled one, cannot resolve host names unless nscd runs): install nscd, use the IP address, or set FFMPEG_PATH and FFPROBE_PATH to a system ffmpeg`;
  }
  return null;
}
