// What a card says about its source, and how numbers are written (fixed widths: no jumps).
import type { ServerState } from './api.js';
import type { InferenceStatus } from '../protocol/api.js';

export type SourceLabel = 'live' | 'connecting' | 'reconnecting' | 'down';

/** A camera that has sent nothing for this long is called down, not reconnecting (it is still retried). */
export const DOWN_AFTER_MS = 30_000;

/**
 * The source state an operator reads: live; connecting (starting, no frame out yet);
 * reconnecting (the camera went away and is retried: the outputs repeat its last frame); down
 * (failed, stopped, or nothing new for longer than DOWN_AFTER_MS, though still retried).
 * quietMs: how long since the last new frame, or since the page first saw the stream not live.
 */
export function sourceLabel(state: ServerState, quietMs: number | null): SourceLabel {
  if (state === 'live') return 'live';
  if (state === 'failed' || state === 'stopped') return 'down';
  if (quietMs !== null && quietMs > DOWN_AFTER_MS) return 'down';
  return state === 'stale' ? 'reconnecting' : 'connecting';
}

/** "0.4 s", "12 s", "3 min", "2 h": short and the same width for a while. */
export function formatAgo(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** A number with fixed decimals, or a dash when there is none. */
export function formatNumber(v: number | null | undefined, decimals = 0): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(decimals);
}

export function totalDrops(d: { behind: number; slow_client: number; encoder_behind: number }): number {
  return d.behind + d.slow_client + d.encoder_behind;
}

/** The card's line on the inference process: "inference pid 4242", "inference restarting · 2 restarts", "… · batches 1.8 of 2". */
export function inferenceLabel(inf: InferenceStatus | null): string {
  if (!inf) return 'inference –';
  const now = inf.state === 'running' && inf.pid !== null ? `inference pid ${inf.pid}` : `inference ${inf.state}`;
  const restarts = inf.restarts ? `${now} · ${inf.restarts} restart${inf.restarts === 1 ? '' : 's'}` : now;
  return inf.batch && inf.batch.max > 1 ? `${restarts} · batches ${inf.batch.mean.toFixed(1)} of ${inf.batch.max}` : restarts;
}
