// The `derain serve` configuration: YAML, ${ENV} substitution, a strict schema, and errors
// that name the field (`streams[2].url: ...`).
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UserError, redactUrl } from '../errors.js';
import { EpUnavailableError, ModelError, checkModel, isInferUserError, modelSettingsFields, withDefaults, type ModelSettings } from '../infer/index.js';
import { bool, fieldPath, num, port, seconds } from '../util/fields.js';
import { liveInputKind, type LiveInputKind } from '../ingest/input-url.js';
import type { ShardInfo } from '../protocol/api.js';
import type { PoolBatch } from './session-pool.js';

export type Transport = 'tcp' | 'udp';

export interface RecordConfig {
  dir: string;
  segmentSeconds: number;
}

export interface StreamConfig extends ModelSettings {
  id: string;
  /** what ffmpeg opens (may hold credentials: never log it, use `display`) */
  url: string;
  display: string;
  kind: LiveInputKind;
  /** a synthetic source's size and rate (demo://) */
  demo?: { width: number; height: number; fps: number };
  transport: Transport;
  /** overrides the frame rate the camera declares */
  fps?: number;
  connectTimeoutMs: number;
  /** connected, no frame yet: a camera with a long keyframe interval is waited for this long */
  firstFrameTimeoutMs: number;
  stallTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  outputs: { rtsp: boolean; ws: boolean; record: RecordConfig | null };
}

export type RtspEgressConfig = { kind: 'embedded'; host: string; port: number; rtpPortStart: number; rtpPortCount: number } | { kind: 'external'; url: string; transport: Transport } | { kind: 'off' };

export interface ServeConfig {
  /** the config file, or "(built-in demo)" */
  origin: string;
  /** allowedOrigins: browser pages of other origins that may open the WebSocket (the server's own always may) */
  server: { host: string; port: number; token?: string; allowedOrigins?: string[] };
  rtsp: RtspEgressConfig;
  streams: StreamConfig[];
  /** set by shardConfig: this service serves one shard of the config's streams */
  shard?: ShardInfo;
  /** frames of the streams sharing a session one inference run takes: one setting, or one per model name (`default` for the others) */
  batch: PoolBatch;
}

const recordSchema = z.strictObject({
  dir: z.string().min(1),
  segmentSeconds: seconds().optional(),
});

const outputsSchema = z.strictObject({
  rtsp: bool().optional(),
  ws: bool().optional(),
  record: z.union([recordSchema, z.literal(false)]).optional(),
});

// Settings a stream may set and `defaults` may set for every stream.
const settings = {
  ...modelSettingsFields,
  transport: z.enum(['tcp', 'udp']).optional(),
  fps: num().pipe(z.number().positive().max(240)).optional(),
  connectTimeout: seconds().optional(),
  firstFrameTimeout: seconds().optional(),
  stallTimeout: seconds().optional(),
  backoffInitial: seconds().optional(),
  backoffMax: seconds().optional(),
  outputs: outputsSchema.optional(),
};

const streamSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'use 1-64 letters, digits, "-" or "_" (it becomes a URL path and a metric label)'),
  url: z.string().min(1),
  ...settings,
});

const BATCH_TEXT = 'must be "auto" or a whole number from 1 to 64';
const batchValue = z.union([z.literal('auto'), num().pipe(z.number().int(BATCH_TEXT).min(1, BATCH_TEXT).max(64, BATCH_TEXT))], { error: BATCH_TEXT });

const configSchema = z
  .strictObject({
    batch: z.union([batchValue, z.record(z.string().min(1), batchValue)], { error: `${BATCH_TEXT}, or a map of model names to such values` }).optional(),
    server: z
      .strictObject({
        host: z.string().min(1).optional(),
        port: port().optional(),
        token: z.string().min(1, 'empty: remove the field to run without a token').optional(),
        allowedOrigins: z.array(z.string().min(1)).optional(),
      })
      .optional(),
    rtsp: z
      .strictObject({
        enabled: bool().optional(),
        host: z.string().min(1).optional(),
        port: port().optional(),
        rtpPortStart: port().optional(),
        rtpPortCount: num().pipe(z.number().int().min(2).max(20000)).optional(),
        publishUrl: z
          .string()
          .regex(/^rtsps?:\/\//i, 'expected an rtsp:// URL of an external RTSP server')
          .optional(),
        publishTransport: z.enum(['tcp', 'udp']).optional(),
      })
      .optional(),
    defaults: z.strictObject(settings).optional(),
    streams: z.array(streamSchema).min(1, 'at least one stream is needed'),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.streams.forEach((s, i) => {
      const first = seen.get(s.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['streams', i, 'id'], message: `duplicate stream id "${s.id}" (also streams[${first}].id)` });
      else seen.set(s.id, i);
    });
  });

type RawConfig = z.infer<typeof configSchema>;
type RawSettings = NonNullable<RawConfig['defaults']>;

/** Replaces ${NAME} and ${NAME:-default} in every string, so secrets stay in the environment. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, at: PropertyKey[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new UserError(`${fieldPath(at) || 'config'}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...at, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...at, k])]));
  }
  return value;
}

/** Fields whose values are never echoed in a message: they hold secrets. */
const SECRET = /token|url|password/i;

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.path.some((k) => SECRET.test(String(k)))) issue = { ...issue, input: issue.input === undefined ? undefined : '…', message: issue.message.replace(/ \(got .*\)/, '') } as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${fieldPath([...issue.path, k])}: unknown field`).join('; ');
  }
  const where = fieldPath(issue.path) || 'config';
  if (issue.code === 'invalid_type')
    return `${where}: ${issue.input === undefined ? 'missing (required)' : issue.message.startsWith('Invalid input') ? `must be ${issue.expected} (got ${JSON.stringify(issue.input)})` : issue.message}`;
  if (issue.code === 'invalid_value' && 'values' in issue) return `${where}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(issue.input)})`;
  // (zod's own wording, "Too small: expected number to be >=0", for numbers; custom messages kept)
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'number' && /^Too (small|big)/.test(issue.message)) {
    const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
    const side = issue.code === 'too_small' ? (issue.inclusive ? 'at least' : 'more than') : issue.inclusive ? 'at most' : 'less than';
    return `${where}: must be ${side} ${String(bound)}${issue.input === undefined ? '' : ` (got ${JSON.stringify(issue.input)})`}`;
  }
  return `${where}: ${issue.message}`;
}

const DEMO_DEFAULT = { width: 640, height: 360, fps: 25 };

function parseDemo(url: string, where: string): { width: number; height: number; fps: number } {
  const u = new URL(url);
  if (u.hostname !== 'rain') throw new UserError(`${where}: the built-in source is demo://rain (optionally ?size=640x360&fps=25)`);
  const out = { ...DEMO_DEFAULT };
  for (const [k, v] of u.searchParams) {
    if (k === 'size' && /^\d+x\d+$/.test(v)) {
      const [w, h] = v.split('x').map(Number);
      if (w < 16 || h < 16 || w % 2 || h % 2) throw new UserError(`${where}: demo size ${v} must be even and at least 16x16`);
      Object.assign(out, { width: w, height: h });
    } else if (k === 'fps' && Number(v) > 0 && Number(v) <= 60) out.fps = Number(v);
    else throw new UserError(`${where}: unknown or invalid demo parameter ${k}=${v} (size=WxH, fps=1..60)`);
  }
  return out;
}

function resolveStream(raw: RawConfig['streams'][number], defaults: RawSettings, i: number, baseDir: string): StreamConfig {
  const s = { ...defaults, ...raw, outputs: { ...defaults.outputs, ...raw.outputs } };
  const where = `streams[${i}].url`;
  const kind = liveInputKind(raw.url);
  let url = raw.url;
  let demo: StreamConfig['demo'];
  if (kind === 'demo') demo = parseDemo(url, where);
  else if (kind === 'file') {
    url = path.resolve(baseDir, url);
    if (!existsSync(url)) throw new UserError(`${where}: file not found: ${url}`);
  }
  const record = s.outputs.record ? { dir: path.resolve(baseDir, s.outputs.record.dir), segmentSeconds: s.outputs.record.segmentSeconds ?? 300 } : null;
  if (record && existsSync(record.dir) && !statSync(record.dir).isDirectory()) throw new UserError(`streams[${i}].outputs.record.dir: ${record.dir} is a file, not a folder`);
  const model = s.model && existsSync(path.resolve(baseDir, s.model)) ? path.resolve(baseDir, s.model) : s.model;
  if (s.inferSize && s.scale !== undefined) throw new UserError(`streams[${i}]: set inferSize or scale, not both`);
  const { inferSize, scale, smooth, ep, threads } = s;
  const initialMs = (s.backoffInitial ?? 0.5) * 1000;
  const maxMs = (s.backoffMax ?? 30) * 1000;
  if (maxMs < initialMs) throw new UserError(`streams[${i}].backoffMax: must be at least backoffInitial`);
  // refused now what the stream would only find out when it starts: `derain run` refuses it too
  try {
    checkModel({ model, inferSize, scale, ep: ep ?? 'auto', threads }, demo);
  } catch (err) {
    if (!isInferUserError(err)) throw err;
    const field = err instanceof ModelError ? 'model' : err instanceof EpUnavailableError ? 'ep' : inferSize ? 'inferSize' : 'scale';
    throw new UserError(`streams[${i}].${field}: ${(err as Error).message}`);
  }
  return {
    id: raw.id,
    url,
    display: redactUrl(raw.url),
    kind,
    demo,
    transport: s.transport ?? 'tcp',
    ...withDefaults({ model, inferSize, scale, smooth, ep, threads }),
    fps: s.fps,
    connectTimeoutMs: (s.connectTimeout ?? 10) * 1000,
    firstFrameTimeoutMs: (s.firstFrameTimeout ?? 30) * 1000,
    stallTimeoutMs: (s.stallTimeout ?? 5) * 1000,
    backoff: { initialMs, maxMs },
    outputs: { rtsp: s.outputs.rtsp ?? true, ws: s.outputs.ws ?? true, record },
  };
}

/** Validates an already-parsed config object (after ${ENV} substitution). */
export function resolveConfig(input: unknown, origin: string, baseDir: string): ServeConfig {
  const parsed = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.map(issueText);
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
    throw new UserError(`${origin}: ${issues.slice(0, 3).join('; ')}${more}`);
  }
  const raw = parsed.data;
  const at = (e: unknown) => (e instanceof UserError ? new UserError(`${origin}: ${e.message}`) : e);
  let streams: StreamConfig[];
  try {
    streams = raw.streams.map((s, i) => resolveStream(s, raw.defaults ?? {}, i, baseDir));
  } catch (e) {
    throw at(e);
  }
  const r = raw.rtsp ?? {};
  let rtsp: RtspEgressConfig;
  if (r.enabled === false) rtsp = { kind: 'off' };
  else if (r.publishUrl) rtsp = { kind: 'external', url: r.publishUrl.replace(/\/+$/, ''), transport: r.publishTransport ?? 'tcp' };
  else {
    const rtpPortCount = r.rtpPortCount ?? 1000;
    if (rtpPortCount % 2) throw new UserError(`${origin}: rtsp.rtpPortCount: must be even (RTP and RTCP ports come in pairs)`);
    const rtpPortStart = r.rtpPortStart ?? 30000;
    if (rtpPortStart % 2 || rtpPortStart === 0) throw new UserError(`${origin}: rtsp.rtpPortStart: must be an even port number`);
    rtsp = { kind: 'embedded', host: r.host ?? '127.0.0.1', port: r.port ?? 8554, rtpPortStart, rtpPortCount };
  }
  return {
    origin,
    server: { host: raw.server?.host ?? '127.0.0.1', port: raw.server?.port ?? 8080, token: raw.server?.token, ...(raw.server?.allowedOrigins ? { allowedOrigins: raw.server.allowedOrigins } : {}) },
    rtsp,
    streams,
    batch: raw.batch ?? 'auto',
  };
}

/**
 * Streams one process starts at most. Each holds a decoder and encoders (ffmpeg processes) and
 * its share of the model: a config of thousands would start thousands of processes and bring
 * the host down instead of failing. More streams go to more processes (serve --shard).
 */
export const MAX_STREAMS = 256;

/** What a config (after --port, --rtsp-port and --shard) must also be to start: checked by startServe. */
export function checkServable(config: ServeConfig): void {
  const n = config.streams.length;
  if (n > MAX_STREAMS) {
    const shards = Math.ceil(n / MAX_STREAMS);
    throw new UserError(`${config.origin}: streams: ${n} streams are more than one process serves (at most ${MAX_STREAMS}): split them with --shard I/N over ${shards} or more processes`);
  }
  const { rtsp, server } = config;
  // (else the second listener fails with "already in use", which reads as another program's doing)
  if (rtsp.kind === 'embedded' && rtsp.port !== 0 && rtsp.port === server.port)
    throw new UserError(`${config.origin}: rtsp.port and server.port are both ${server.port}: the embedded RTSP server and HTTP need a port each`);
}

/** Reads, substitutes and validates a config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  if (!existsSync(file)) throw new UserError(`config file not found: ${file}`);
  const text = readFileSync(file, 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${first}`);
  }
  let data: unknown;
  try {
    data = substituteEnv(doc.toJS(), env);
  } catch (e) {
    throw e instanceof UserError ? new UserError(`${file}: ${e.message}`) : e;
  }
  return resolveConfig(data, file, path.dirname(path.resolve(file)));
}

/** `derain serve` without a config: one stream from the built-in synthetic rainy source. */
export function demoConfig(): ServeConfig {
  return resolveConfig({ streams: [{ id: 'demo', url: 'demo://rain' }] }, '(built-in demo)', process.cwd());
}
