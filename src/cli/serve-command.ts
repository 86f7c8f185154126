// `derain serve`: the live service. Runs until SIGINT/SIGTERM, then shuts down in order
// (sources, frames in flight, encoders finished so recordings play, clients) within 5 s.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { demoConfig, loadConfig, type ServeConfig } from '../serve/config.js';
import { parseShard, shardConfig, shardFromHostname, type Shard } from '../serve/shard.js';
import { stderrLog } from '../serve/log.js';
import { startServe } from '../serve/serve.js';
import { dashboardRoutes } from '../http/dashboard.js';
import { UserError } from '../errors.js';

interface ServeFlags {
  config?: string;
  host?: string;
  port?: number;
  rtspPort?: number;
  shard?: string;
  shardFromHostname?: string;
}

/** Shutdown must be over by then: a process that does not go away in time is ended anyway. */
const SHUTDOWN_DEADLINE_MS = 4500;

/** How often the launcher is looked at (see watchLauncher). */
const LAUNCHER_POLL_MS = 500;

/** The parent of process `pid`, from /proc (Linux); null where that cannot be read. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/**
 * Started by npm (`npx derain serve`, an npm script), the service runs under npm → sh → node.
 * A SIGTERM to npm (what a service manager or a container runtime sends) is passed to sh, which
 * dies of it without passing it on: npm exits and node is left running under PID 1, holding its
 * ports. So under npm the service watches its parent, and its parent's parent where /proc tells,
 * and calls `gone` when either is replaced (the process was orphaned). Not otherwise: a service
 * started with nohup or setsid is meant to outlive the shell that started it.
 */
function watchLauncher(gone: (why: string) => void): NodeJS.Timeout | null {
  const env = process.env;
  if (!(env.npm_command || env.npm_lifecycle_event || env.npm_execpath)) return null;
  const parent = process.ppid;
  const grandparent = parentOf(parent);
  if (parent <= 1) return null;
  const timer = setInterval(() => {
    const now = process.ppid;
    const above = grandparent === null ? null : parentOf(parent);
    if (now !== parent) gone(`the process that started this one (pid ${parent}, npm or its shell) has gone`);
    else if (grandparent !== null && grandparent > 1 && above !== null && above !== grandparent) gone(`npm (pid ${grandparent}) has gone`);
    else return;
    clearInterval(timer);
  }, LAUNCHER_POLL_MS);
  timer.unref();
  return timer;
}

function portNumber(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535)`);
    return n;
  };
}

function withFlags(config: ServeConfig, flags: ServeFlags): ServeConfig {
  const server = { ...config.server, ...(flags.host ? { host: flags.host } : {}), ...(flags.port !== undefined ? { port: flags.port } : {}) };
  const rtsp = flags.rtspPort !== undefined && config.rtsp.kind === 'embedded' ? { ...config.rtsp, port: flags.rtspPort } : config.rtsp;
  return { ...config, server, rtsp };
}

function shardOfFlags(flags: ServeFlags): Shard | null {
  if (flags.shard !== undefined && flags.shardFromHostname !== undefined) throw new UserError('--shard and --shard-from-hostname: give one of them');
  if (flags.shard !== undefined) return parseShard(flags.shard);
  if (flags.shardFromHostname !== undefined) return shardFromHostname(flags.shardFromHostname, hostname());
  return null;
}

async function serveCommand(flags: ServeFlags): Promise<void> {
  const shard = shardOfFlags(flags);
  const loaded = withFlags(flags.config ? loadConfig(flags.config) : demoConfig(), flags);
  const config = shard ? shardConfig(loaded, shard) : loaded;
  if (shard) {
    const ids = config.streams.map((s) => s.id).join(', ');
    stderrLog(
      `derain serve: shard ${shard.index}/${shard.count}: ${config.streams.length} of ${loaded.streams.length} streams (${ids || 'none: this shard serves nothing until the config has a stream that hashes to it'})`,
    );
  }
  const log = stderrLog;
  const svc = await startServe(config, { log, routes: dashboardRoutes() });
  log(`derain serve (${config.origin}): HTTP ${svc.httpUrl} (dashboard at /, /healthz, /metrics, /api/streams, /ws/<id>)${config.server.token ? ', bearer token required for /api and /ws' : ''}`);
  if (svc.rtsp) log(`derain serve: RTSP ${svc.rtsp.readUrl('<id>')} (RTP over TCP or UDP)`);
  for (const s of config.streams) {
    const outs = [
      s.outputs.rtsp && svc.rtsp ? svc.rtsp.readUrl(s.id) : null,
      s.outputs.ws ? `${svc.httpUrl.replace(/^http/, 'ws')}/ws/${s.id}` : null,
      s.outputs.record ? `recording to ${s.outputs.record.dir}` : null,
    ];
    log(`stream ${s.id}: ${s.display} -> ${outs.filter(Boolean).join(', ') || 'no outputs'}`);
  }

  await new Promise<void>((resolve) => {
    let firstAt = 0;
    const shutDown = (why: string) => {
      // (npx forwards the terminal's Ctrl-C too, so one press can arrive twice: only a later one counts)
      if (firstAt) {
        if (Date.now() - firstAt > 500) process.exit(130);
        return;
      }
      firstAt = Date.now();
      clearInterval(launcher ?? undefined);
      log(`${why}: shutting down`);
      const deadline = setTimeout(() => {
        // (an exit would wait for the inference in progress, however long it takes)
        log('shutdown did not finish in time; killing the process');
        process.kill(process.pid, 'SIGKILL');
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      svc.close().then(() => {
        clearTimeout(deadline);
        log('stopped');
        resolve();
      });
    };
    const launcher = watchLauncher(shutDown);
    process.on('SIGINT', shutDown);
    process.on('SIGTERM', shutDown);
  });
  // Everything is closed; should a library still hold a handle, do not wait for it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 300).unref();
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('live service: cameras in, derained RTSP and WebSocket out, Prometheus metrics, health, snapshots')
    .option('-c, --config <file>', 'YAML config (default: one demo stream from a built-in synthetic rainy source)')
    .option('--host <address>', 'HTTP listen address (overrides server.host; default 127.0.0.1)')
    .option('--port <n>', 'HTTP port (overrides server.port; default 8080)', portNumber('--port'))
    .option('--rtsp-port <n>', 'port of the embedded RTSP server (overrides rtsp.port; default 8554)', portNumber('--rtsp-port'))
    .option('--shard <I/N>', 'serve the streams whose id hashes to shard I of N (from 0): N processes given one config serve each stream once')
    .option('--shard-from-hostname <N>', "--shard I/N with I the ordinal at the end of the host name (a StatefulSet pod's, derain-I)")
    .action(serveCommand);
}
