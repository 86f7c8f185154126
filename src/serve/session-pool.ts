// One inference session per model and size, shared by every stream that uses it.
//
// Fairness: a session runs at most `inFlight` frames at a time. A stream asks for a turn
// before it hands a frame over, and asks again only after that; turns are granted in the
// order they were asked for, so with N streams waiting each gets one frame in N: a fast
// camera cannot starve a slow one, and the queue in front of the inference process never grows.
//
// Live streams default to one frame in flight, not the two of file runs: a second frame
// handed over while the first runs waits a whole inference in the process's queue, while the
// frame taken when the process frees up is the newest the camera sent. Latency is what a
// live output is judged by; the bench's live section measures both.
//
// The session's inference process is kept running by an InferenceKeeper: while it restarts,
// turns wait (the streams' newest frames wait with them, older ones are dropped as "behind"),
// and the new process starts every lane afresh, as after a reconnect.
import { openModel, type Derained, type Derainer, type ModelSettings, type Size } from '../infer/index.js';
import type { Frame } from '../frame.js';
import type { InferenceStatus } from '../protocol/api.js';
import { InferenceKeeper } from './inference-keeper.js';

/** A session serves every stream with the same model settings and frame size; smoothing is per stream. */
export interface SessionSpec extends Omit<ModelSettings, 'smooth'> {
  width: number;
  height: number;
}

export interface SessionInfo {
  model: string;
  ep: string;
  infer: Size;
  /** why the model is not the one asked for (the default model could not be loaded) */
  note?: string;
}

export const LIVE_IN_FLIGHT = 1;

/** How the log names a session. */
function sessionLabel(info: SessionInfo): string {
  return `session ${info.model} ${info.infer.width}x${info.infer.height} on ${info.ep}`;
}

/** What the service hears of its sessions' inference processes. */
export interface PoolHooks {
  log(msg: string): void;
  /** a session opened (its restarts count from zero) */
  onOpen?(info: SessionInfo): void;
  /** a session's inference process is being restarted */
  onRestart?(info: SessionInfo): void;
}

export class SharedSession {
  private inflight = 0;
  private readonly waiting: { lane: number; grant: (ok: boolean) => void }[] = [];
  private nextLane = 1;
  private readonly keeper: InferenceKeeper;
  lanes = 0;

  constructor(
    derainer: Derainer,
    readonly info: SessionInfo,
    private readonly maxInFlight: number,
    hooks: PoolHooks,
  ) {
    this.keeper = new InferenceKeeper(derainer, sessionLabel(info), { log: hooks.log, onRestart: () => hooks.onRestart?.(info), onRunning: () => this.grantWaiting() });
  }

  /** the process running the session now (another one after a restart) */
  get derainer(): Derainer {
    return this.keeper.derainer;
  }

  inference(): InferenceStatus {
    return this.keeper.status();
  }

  private grantWaiting(): void {
    while (this.keeper.running && this.inflight < this.maxInFlight && this.waiting.length > 0) {
      this.inflight++;
      this.waiting.shift()!.grant(true);
    }
  }

  newLane(smooth: number, onRelease: () => void): Lane {
    this.lanes++;
    return new Lane(this, this.nextLane++, smooth, onRelease);
  }

  turn(lane: number): Promise<boolean> {
    if (this.keeper.stopped) return Promise.resolve(false);
    if (this.keeper.running && this.inflight < this.maxInFlight && this.waiting.length === 0) {
      this.inflight++;
      return Promise.resolve(true);
    }
    return new Promise((grant) => this.waiting.push({ lane, grant }));
  }

  /** A lane that stops while waiting gives its place up. */
  cancel(lane: number): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i].lane === lane) this.waiting.splice(i, 1)[0].grant(false);
    }
  }

  run(frame: Frame, lane: number, smooth: number): Promise<Derained> {
    return this.derainer.infer(frame, { lane, smooth }).finally(() => {
      this.inflight--;
      this.grantWaiting();
    });
  }

  /** Closes the session once the frames it is running are done (Derainer.close waits for them). */
  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) w.grant(false);
    await this.keeper.close();
  }
}

/** One stream's place in a shared session: its own smoothing state and its turns. */
export class Lane {
  private released = false;

  constructor(
    readonly session: SharedSession,
    readonly id: number,
    readonly smooth: number,
    private readonly onRelease: () => void,
  ) {}

  get info(): SessionInfo {
    return this.session.info;
  }

  inference(): InferenceStatus {
    return this.session.inference();
  }

  /** Waits until the session can take a frame from this stream; false when the lane was released meanwhile. */
  turn(): Promise<boolean> {
    return this.released ? Promise.resolve(false) : this.session.turn(this.id);
  }

  /** Hands a frame over (after a granted turn); its data is copied before this returns. */
  infer(frame: Frame): Promise<Derained> {
    return this.session.run(frame, this.id, this.smooth);
  }

  /** Gives up a turn being waited for (the stream is stopping). */
  cancel(): void {
    this.session.cancel(this.id);
  }

  /** The next frame restarts the smoothing state (the camera reconnected). */
  reset(): void {
    this.session.derainer.reset(this.id);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.session.cancel(this.id);
    this.session.derainer.dropLane(this.id);
    this.onRelease();
  }
}

interface Entry {
  session: Promise<SharedSession>;
  refs: number;
}

export class SessionPool {
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly inFlight = LIVE_IN_FLIGHT,
    private readonly hooks: PoolHooks = { log: () => {} },
  ) {}

  /** Sessions open now (for the API and tests). */
  get size(): number {
    return this.entries.size;
  }

  static key(spec: SessionSpec): string {
    const infer = spec.inferSize ? `${spec.inferSize.width}x${spec.inferSize.height}` : spec.scale !== undefined ? `s${spec.scale}` : 'card';
    return [spec.model ?? '(default)', `${spec.width}x${spec.height}`, infer, spec.ep, spec.threads ?? ''].join('|');
  }

  private async open(spec: SessionSpec): Promise<SharedSession> {
    const m = await openModel({ ...spec, smooth: 0 }, { width: spec.width, height: spec.height }, { purpose: 'live' });
    const info: SessionInfo = { model: m.card.name, ep: m.ep, infer: m.infer, note: m.note };
    this.hooks.log(`${sessionLabel(info)}: inference process ${m.derainer.pid}`);
    this.hooks.onOpen?.(info);
    return new SharedSession(m.derainer, info, this.inFlight, this.hooks);
  }

  /** A lane in the session for this spec, opening the session if no stream uses it yet. */
  async acquire(spec: SessionSpec, smooth: number): Promise<Lane> {
    const key = SessionPool.key(spec);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { session: this.open(spec), refs: 0 };
      this.entries.set(key, entry);
    }
    entry.refs++;
    let session: SharedSession;
    try {
      session = await entry.session;
    } catch (err) {
      if (--entry.refs === 0 && this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
    const e = entry;
    return session.newLane(smooth, () => {
      session.lanes--;
      if (--e.refs === 0 && this.entries.get(key) === e) {
        this.entries.delete(key);
        this.closeLater(session);
      }
    });
  }

  private closeLater(session: SharedSession): void {
    const p = session.close().catch(() => {});
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }

  /** Closes every session, after the frames they are running. */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) {
      const session = await e.session.catch(() => null);
      if (session) this.closeLater(session);
    }
    await Promise.allSettled([...this.closing]);
  }
}
