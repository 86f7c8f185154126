// Service log lines: one per event, on stderr, timestamped; credentials in URLs never printed.
import { redactUrl } from '../errors.js';

export type Log = (msg: string) => void;

export function stderrLog(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${redactUrl(msg)}\n`);
}

export const quietLog: Log = () => {};
