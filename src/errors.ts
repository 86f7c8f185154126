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

/** Hides the password (and user) of URLs such as rtsp://user:pass@camera/stream. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');
}
