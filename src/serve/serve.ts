// `derain serve`: listeners first (a taken port fails at once), then the streams.
import { redactUrl } from '../errors.js';
import { EmbeddedRtspServer } from '../egress/rtsp/embedded-server.js';
import { startHttp, type HttpService } from '../http/http-server.js';
import type { Route } from '../http/routes.js';
import { checkServable, type ServeConfig } from './config.js';
import { stderrLog, type Log } from './log.js';
import { StreamManager } from './stream-manager.js';
import type { RtspTarget } from './stream.js';

export interface ServeOptions {
  log?: Log;
  /** more HTTP routes (the dashboard) */
  routes?: Route[];
  /** frames one inference session runs at a time (default 1: lowest latency) */
  inFlight?: number;
}

export interface ServeHandle {
  config: ServeConfig;
  manager: StreamManager;
  http: HttpService;
  rtsp: EmbeddedRtspServer | null;
  /** http://host:port */
  httpUrl: string;
  close(): Promise<void>;
}

function rtspTarget(config: ServeConfig, embedded: EmbeddedRtspServer | null): RtspTarget | null {
  if (embedded) {
    return {
      transport: 'udp',
      publishUrl: (id) => embedded.publishUrl(id),
      readUrl: (id) => embedded.readUrl(id),
      readers: (id) => embedded.readers(id),
      published: (id) => embedded.published(id),
      unpublish: (id) => embedded.unpublish(id),
      droppedPackets: (id) => embedded.tcpDroppedPackets(id),
    };
  }
  if (config.rtsp.kind === 'external') {
    const base = config.rtsp.url;
    return { transport: config.rtsp.transport, publishUrl: (id) => `${base}/${id}`, readUrl: (id) => redactUrl(`${base}/${id}`), readers: () => 0, published: () => true, unpublish: () => {} };
  }
  return null;
}

export async function startServe(config: ServeConfig, opts: ServeOptions = {}): Promise<ServeHandle> {
  checkServable(config);
  const log = opts.log ?? stderrLog;
  let embedded: EmbeddedRtspServer | null = null;
  if (config.rtsp.kind === 'embedded') {
    const ids = new Set(config.streams.map((s) => s.id));
    embedded = new EmbeddedRtspServer({ ...config.rtsp, allowPublish: (p) => ids.has(p), onError: (err) => log(`RTSP server: ${err.message}`) });
    await embedded.start();
  }
  const manager = new StreamManager(config.streams, rtspTarget(config, embedded), log, opts.inFlight, config.shard ?? null, config.batch);
  let http: HttpService;
  try {
    const { host, port, token, allowedOrigins } = config.server;
    http = await startHttp({ host, port, token, allowedOrigins, directory: manager, routes: opts.routes, log });
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  manager.start();
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  let closing: Promise<void> | null = null;
  return {
    config,
    manager,
    http,
    rtsp: embedded,
    httpUrl: `http://${host}:${http.port}`,
    close() {
      closing ??= (async () => {
        await manager.stop();
        await Promise.allSettled([http.close(), embedded?.close()]);
      })();
      return closing;
    },
  };
}
