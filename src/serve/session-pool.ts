// One inference session per model and size, shared by every stream that uses it.
//
// Fairness: a session runs at most `inFlight` batches at a time. A stream asks for a turn
// before it hands a frame over, and asks again only after that; turns are granted in the
// order they were asked for, so a fast camera cannot starve a slow one, and the queue in front
// of the inference process never grows.
//
// Batches: when the session frees up, every stream waiting for a turn (up to the batch limit)
// gets one at once, and their frames go to the inference process as one batch, one run for
// all of them (fused-graph.ts, batch 'dynamic'). Nothing waits for a batch to fill: a stream
// alone runs batches of one, as before. So with N streams and a limit of at least N, no stream
// waits more than the one batch that runs when it asks; with more streams than the limit,
// turns go round in the order asked.
//
// Live streams default to one batch in flight, not the two frames of file runs: a frame handed
// over while the previous batch runs waits a whole inference in the process's queue, while the
// frame taken when the process frees up is the newest the camera sent. Latency is what a live
// output is judged by; the bench's live section measures both.
//
// The session's inference process is kept running by an InferenceKeeper: while it restarts,
// turns wait (the streams' newest frames wait with them, older ones are dropped as "behind"),
// and the new process starts every lane afresh, as after a reconnect.
import { chooseModel, openModel, type BatchSetting, type Derained, type Derainer, type ModelSettings, type Size } from '../infer/index.js';
import type { Frame } from '../frame.js';
import type { BatchStatus, InferenceStatus } from '../protocol/api.js';
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

/** The serve config's `batch`: one setting for every model, or one per model name (`default` for the rest). */
export type PoolBatch = BatchSetting | Record<string, BatchSetting>;

export function batchFor(batch: PoolBatch, model: string): BatchSetting {
  if (typeof batch !== 'object') return batch;
  return batch[model] ?? batch.default ?? 'auto';
}

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

interface Job {
  lane: number;
  frame: Frame;
  smooth: number;
  resolve: (d: Derained) => void;
  reject: (e: Error) => void;
}

/** The sizes of the last runs, for the API. */
class BatchSizes {
  private readonly recent: number[] = [];
  last = 0;
  runs = 0;

  add(n: number): void {
    this.last = n;
    this.runs++;
    this.recent.push(n);
    if (this.recent.length > 100) this.recent.shift();
  }

  mean(): number {
    return this.recent.length ? Math.round((this.recent.reduce((a, b) => a + b, 0) / this.recent.length) * 100) / 100 : 0;
  }
}

export class SharedSession {
  /** batches handed to the inference process and not yet back */
  private inflight = 0;
  private readonly waiting: { lane: number; grant: (ok: boolean) => void }[] = [];
  /** lanes granted a turn whose frame has not come yet: the batch being formed waits for them, within this event-loop turn */
  private readonly granted = new Set<number>();
  /** frames handed over for the next batch */
  private readonly ready: Job[] = [];
  private flush: NodeJS.Immediate | null = null;
  private readonly sizes = new BatchSizes();
  private noteLogged = false;
  private nextLane = 1;
  private readonly keeper: InferenceKeeper;
  lanes = 0;

  constructor(
    derainer: Derainer,
    readonly info: SessionInfo,
    private readonly maxInFlight: number,
    private readonly hooks: PoolHooks,
  ) {
    this.keeper = new InferenceKeeper(derainer, sessionLabel(info), {
      log: hooks.log,
      onRestart: () => hooks.onRestart?.(info),
      onRunning: () => {
        this.grantWaiting();
        this.dispatch();
      },
    });
    if (derainer.batchNote) this.logNote(derainer);
  }

  /** the process running the session now (another one after a restart) */
  get derainer(): Derainer {
    return this.keeper.derainer;
  }

  /** the most frames one batch takes now (1 once the model has refused a batch) */
  get maxBatch(): number {
    return this.derainer.maxBatch;
  }

  inference(): InferenceStatus {
    return { ...this.keeper.status(), batch: this.batchStatus() };
  }

  batchStatus(): BatchStatus {
    return { max: this.maxBatch, last: this.sizes.last, mean: this.sizes.mean(), runs: this.sizes.runs, note: this.derainer.batchNote };
  }

  private logNote(d: Derainer): void {
    if (this.noteLogged) return;
    this.noteLogged = true;
    this.hooks.log(`${sessionLabel(this.info)}: ${d.batchNote}`);
  }

  /** turns taken for the batch being formed: granted, or with their frame handed over */
  private get forming(): number {
    return this.granted.size + this.ready.length;
  }

  private canGrant(): boolean {
    return this.keeper.running && this.inflight < this.maxInFlight && this.forming < this.maxBatch;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.canGrant()) {
      const w = this.waiting.shift()!;
      this.granted.add(w.lane);
      w.grant(true);
    }
  }

  newLane(smooth: number, onRelease: () => void): Lane {
    this.lanes++;
    return new Lane(this, this.nextLane++, smooth, onRelease);
  }

  turn(lane: number): Promise<boolean> {
    if (this.keeper.stopped) return Promise.resolve(false);
    if (this.waiting.length === 0 && this.canGrant()) {
      this.granted.add(lane);
      return Promise.resolve(true);
    }
    return new Promise((grant) => this.waiting.push({ lane, grant }));
  }

  /** A lane that stops while waiting gives its place up (and a turn it was granted). */
  cancel(lane: number): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i].lane === lane) this.waiting.splice(i, 1)[0].grant(false);
    }
    if (this.granted.delete(lane)) this.dispatch();
  }

  run(frame: Frame, lane: number, smooth: number): Promise<Derained> {
    const job = new Promise<Derained>((resolve, reject) => this.ready.push({ lane, frame, smooth, resolve, reject }));
    this.granted.delete(lane);
    this.dispatch();
    return job;
  }

  /**
   * Sends the batch once every stream granted a turn for it has handed its frame over: they
   * do so in the same event-loop turn as their grant, so a stream whose frame has not come by
   * the next one (setImmediate) is not waited for; its frame goes in the batch after.
   */
  private dispatch(): void {
    if (this.ready.length === 0 || this.inflight >= this.maxInFlight) return;
    if (this.granted.size > 0 && this.ready.length < this.maxBatch) {
      this.flush ??= setImmediate(() => {
        this.flush = null;
        this.send();
      });
      return;
    }
    this.send();
  }

  private send(): void {
    if (this.flush) clearImmediate(this.flush);
    this.flush = null;
    if (this.ready.length === 0 || this.inflight >= this.maxInFlight) return;
    const jobs = this.ready.splice(0, this.maxBatch);
    this.inflight++;
    this.sizes.add(jobs.length);
    const d = this.derainer;
    const results = d.inferBatch(jobs.map((j) => ({ frame: j.frame, lane: j.lane, smooth: j.smooth })));
    results.forEach((r, i) => r.then(jobs[i].resolve, jobs[i].reject));
    void Promise.allSettled(results).then(() => {
      if (d.batchNote) this.logNote(d);
      this.inflight--;
      this.grantWaiting();
      this.dispatch();
    });
  }

  /** Closes the session once the frames it is running are done (Derainer.close waits for them). */
  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) w.grant(false);
    // (the streams have stopped: a frame handed over meanwhile is not run)
    for (const j of this.ready.splice(0)) j.reject(new Error('the session is closed'));
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
    /** frames of the streams of one session one run takes (the serve config's `batch`) */
    private readonly batch: PoolBatch = 'auto',
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
    const batch = batchFor(this.batch, chooseModel(spec.model, spec.ep, 'live').name);
    const m = await openModel({ ...spec, smooth: 0 }, { width: spec.width, height: spec.height }, { purpose: 'live', batch });
    const info: SessionInfo = { model: m.card.name, ep: m.ep, infer: m.infer, note: m.note };
    const batches = m.derainer.maxBatch > 1 ? `, batches of up to ${m.derainer.maxBatch} frames` : '';
    this.hooks.log(`${sessionLabel(info)}: inference process ${m.derainer.pid}${batches}`);
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
