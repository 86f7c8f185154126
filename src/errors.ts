// Errors a user can act on: one line, no stack, and the exit code that says whose fault it is.

export class UserError extends Error {
  /** 2: the invocation or its inputs are wrong; 1: the run failed while working */
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

const SCHEME = /[a-z][a-z0-9+.-]*:\/\//gi;

/**
 * Hides the user and password of every URL in `text` (a URL, or a message quoting URLs):
 * rtsp://user:pass@camera/stream becomes rtsp://***@camera/stream; and the value of a `token`
 * query parameter.
 *
 * ffmpeg takes the host after the last "@" before the first "/", "?" or "#", so a password
 * may hold raw "@" and ":" (rtsp://user:p@ss@host/ works). A password with a raw "/", "?" or
 * "#" is misread by ffmpeg, but must not leak either. So everything from "://" to the last "@"
 * of the URL (up to whitespace) is hidden, even when that "@" is in the path; and, for a
 * password with spaces, to a later "@" on the same line when nothing between is a "/", "?" or
 * "#". Hiding too much costs a host name in a message; hiding too little, a password.
 */
export function redactUrl(text: string): string {
  return hideUserinfo(text).replace(TOKEN_PARAM, '$1***');
}

/** `?token=` (the dashboard's way of sending the bearer token) in any URL a message quotes. */
const TOKEN_PARAM = /([?&]token=)[^&#\s"']+/gi;

function hideUserinfo(text: string): string {
  let out = '';
  let from = 0;
  SCHEME.lastIndex = 0;
  for (let m = SCHEME.exec(text); m; m = SCHEME.exec(text)) {
    const start = m.index + m[0].length;
    let tokenEnd = text.slice(start).search(/\s/);
    tokenEnd = tokenEnd < 0 ? text.length : start + tokenEnd;
    let lineEnd = text.indexOf('\n', start);
    if (lineEnd < 0) lineEnd = text.length;
    let at = text.lastIndexOf('@', tokenEnd - 1);
    if (at < start) at = -1;
    const spaced = text.slice(start, lineEnd).match(/^[^/?#\n]*@/);
    if (spaced) at = Math.max(at, start + spaced[0].length - 1);
    if (at < 0) continue;
    out += text.slice(from, start) + '***';
    from = at;
    SCHEME.lastIndex = at + 1;
  }
  return out + text.slice(from);
}
