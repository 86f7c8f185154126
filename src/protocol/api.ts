// The JSON of the service's API (GET /api/streams), as the server writes it and the dashboard reads it.

export type StreamState = 'connecting' | 'live' | 'stale' | 'failed' | 'stopped';

/** Why frames were dropped, as counted in derain_frames_dropped_total{reason}. */
export type DropReason =
  /** inference fell behind a live source: the oldest waiting frame gave way */
  | 'behind'
  /** a WebSocket client read too slowly: its queue was full */
  | 'slow_client'
  /** an encoder (RTSP, recording, JPEG) fell behind: the frame skipped it */
  | 'encoder_behind'
  /** the model failed on the frame: it was dropped and the stream went on */
  | 'inference_error';

/** Which of the camera shards a service is (`serve --shard I/N`): it serves the streams whose id hashes to `index`. */
export interface ShardInfo {
  index: number;
  count: number;
}

/** GET /api/streams. */
export interface StreamList {
  /** null when the service is not sharded (it serves its whole config) */
  shard: ShardInfo | null;
  streams: StreamStatus[];
}

/**
 * The inference process of a stream's session (streams on one model share it): running; or
 * restarting after it died or hung (the stream's outputs repeat the last frame meanwhile); or
 * stopped with the service.
 */
export type InferenceState = 'running' | 'restarting' | 'stopped';

export interface InferenceStatus {
  /** the process running the session; null while it is being restarted */
  pid: number | null;
  state: InferenceState;
  /** processes started in place of one that died or hung (derain_inference_restarts_total) */
  restarts: number;
  /** why the last process ended, e.g. "inference process 4242 died (signal SIGKILL)" */
  lastExit: string | null;
  /** frames of the session's streams run together (set by the service; absent from older ones) */
  batch?: BatchStatus;
}

/** The batches of a shared session: frames of several streams derained in one run. */
export interface BatchStatus {
  /** the most one run takes (the `batch` setting as the model and provider allow it) */
  max: number;
  /** the frames of the last run */
  last: number;
  /** frames per run over the last 100 runs */
  mean: number;
  /** runs since the session opened */
  runs: number;
  /** why the session runs one frame at a time although batches were asked for (the model takes none) */
  note: string | null;
}

/**
 * An encoder output of a stream (RTSP publishing, recording): running, or failed (its server
 * went away, its folder cannot be written) and being started again with back-off. The stream
 * and its other outputs go on meanwhile; frames skip the output until it runs again.
 */
export interface OutputStatus {
  state: 'running' | 'retrying';
  /** starts after a failure (derain_output_restarts_total{output}) */
  restarts: number;
  /** why it last failed, e.g. "Connection refused"; null if it never did */
  lastError: string | null;
  /** when it is tried next, while retrying (ISO time) */
  retryAt: string | null;
}

/** One entry of GET /api/streams (never holds credentials). */
export interface StreamStatus {
  id: string;
  /** the source, with any user and password hidden */
  source: string;
  state: StreamState;
  /** true while the outputs repeat the last good frame (the camera is down) */
  stale: boolean;
  /** why the stream is not live, when it is not */
  reason: string | null;
  width: number | null;
  height: number | null;
  /** the source's frame rate */
  sourceFps: number | null;
  /**
   * the decoder converts one frame in this many (1: every frame; 2-16 while the stream's share of
   * inference is far below the camera's rate: the rest are skipped after decoding, counted as dropped behind)
   */
  decodeEvery: number;
  model: string | null;
  ep: string | null;
  inferWidth: number | null;
  inferHeight: number | null;
  /** over the last 5 s */
  fps: number;
  e2eMs: { p50: number; p95: number } | null;
  inferenceMs: { p50: number; p95: number } | null;
  /** null until the stream has joined a session */
  inference: InferenceStatus | null;
  framesIngested: number;
  framesProcessed: number;
  dropped: Record<DropReason, number>;
  reconnects: number;
  lastFrameAt: string | null;
  outputs: { rtsp: string | null; ws: string | null; record: string | null };
  /** the encoder outputs' health; null where the stream has no such output (or has not started it yet) */
  outputState: { rtsp: OutputStatus | null; record: OutputStatus | null };
  clients: { ws: number; rtsp: number };
}
