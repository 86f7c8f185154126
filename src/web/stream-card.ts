// One stream's card: live derained video (or input | derained with a draggable split), its
// numbers, source state and charts, full-size view and snapshot download.
import { fetchSnapshot, type StreamView } from './api.js';
import { TimeChart } from './chart.js';
import { LatestDecoder } from './decoder.js';
import { h, setText } from './dom.js';
import type { FrameHeader } from '../protocol/frame-header.js';
import { FrameSocket } from './frame-socket.js';
import { Rolling } from './rolling.js';
import { formatAgo, formatNumber, inferenceLabel, sourceLabel, totalDrops, type SourceLabel } from './state.js';

export interface CardHost {
  /** the WebSocket URL of this stream's derained (raw: false) or input frames */
  socketUrl(id: string, raw: boolean): string;
  token(): string | null;
  /** the full-size view opened or closed */
  fullChanged(card: StreamCard, full: boolean): void;
}

interface Shown {
  header: FrameHeader;
  bitmap: ImageBitmap;
  jpeg: Blob;
}

/** input frames kept to pair with the derained frame of the same number (inference lags a little) */
const INPUTS_KEPT = 12;
/** a drag shorter than this is a click (opens full size) */
const DRAG_PX = 4;

const STATE_TEXT: Record<SourceLabel, string> = { live: 'live', connecting: 'connecting', reconnecting: 'reconnecting', down: 'down' };

function stat(key: string, label: string, unit: string, title: string): HTMLElement {
  return h('div', { class: 'stat', title }, h('dt', {}, label), h('dd', {}, h('span', { class: 'num', 'data-k': key }, '–'), h('span', { class: 'unit' }, unit)));
}

export class StreamCard {
  readonly el: HTMLElement;
  private readonly view: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly notice: HTMLElement;
  private readonly staleTag = h('span', { class: 'tag tag-stale', 'aria-hidden': 'true' }, 'last frame repeated: camera down');
  private readonly compareBtn: HTMLButtonElement;
  private readonly fullBtn: HTMLButtonElement;
  private readonly snapBtn: HTMLButtonElement;
  private readonly splitInput: HTMLInputElement;
  private readonly fields = new Map<string, HTMLElement>();
  private readonly fpsChart: TimeChart;
  private readonly latencyChart: TimeChart;

  private derainedSocket: FrameSocket | null = null;
  private inputSocket: FrameSocket | null = null;
  private readonly derainedDecoder = new LatestDecoder((hd, bmp, jpeg) => this.gotDerained(hd, bmp, jpeg));
  private readonly inputDecoder = new LatestDecoder((hd, bmp) => this.gotInput(hd, bmp));
  private current: Shown | null = null;
  private readonly inputs = new Map<number, ImageBitmap>();
  private drawnSeq = -1;
  private raf = 0;
  private videoProblem: string | null = 'connecting to the video…';

  private compare = false;
  private split = 0.5;
  private full = false;
  private drag: { x: number; moved: boolean } | null = null;

  private status: StreamView | null = null;
  private lastFreshAt: number | null = null;
  /** when this page first saw the stream not live (a camera that never came up turns "down" too) */
  private notLiveSince: number | null = null;
  private readonly shown = new Rolling(2000);
  private readonly latency = new Rolling(2000);

  constructor(
    readonly id: string,
    private readonly host: CardHost,
  ) {
    const titleId = `title-${id}`;
    this.canvas = h('canvas', { width: 640, height: 360, 'aria-hidden': 'true' });
    this.ctx = this.canvas.getContext('2d', { alpha: false })!;
    this.notice = h('p', { class: 'notice' }, this.videoProblem!);
    this.view = h(
      'div',
      { class: 'view', tabindex: 0, role: 'button', 'aria-label': `${id}: live video; Enter opens full size` },
      this.canvas,
      h('span', { class: 'tag tag-input', 'aria-hidden': 'true' }, 'input'),
      h('span', { class: 'tag tag-output', 'aria-hidden': 'true' }, 'derained'),
      this.staleTag,
      this.notice,
    );
    this.compareBtn = h('button', { type: 'button', class: 'compare', 'aria-pressed': 'false', title: 'Show the input beside the derained output, split by a slider' }, 'Compare');
    this.splitInput = h('input', { type: 'range', min: 0, max: 100, step: 1, value: 50, class: 'split', 'aria-label': `${id}: split between input (left) and derained (right), percent` });
    this.snapBtn = h('button', { type: 'button', class: 'snapshot', title: 'Download the derained frame on screen as JPEG' }, 'Snapshot');
    this.fullBtn = h('button', { type: 'button', class: 'fullsize', 'aria-pressed': 'false' }, 'Full size');
    const stats = h(
      'dl',
      { class: 'stats' },
      stat('fps', 'fps', '', 'frames per second shown on this page'),
      stat('latency', 'latency', 'ms', 'capture → display on this page, median of the last 2 s (needs this computer’s clock in step with the server’s)'),
      stat('infer', 'inference', 'ms', 'model inference per frame, median of the last 5 s'),
      stat('drops', 'drops', '', 'frames dropped since the start: behind (inference could not keep up), slow client, encoder behind'),
    );
    for (const el of stats.querySelectorAll<HTMLElement>('[data-k]')) this.fields.set(el.dataset.k!, el);
    const meta = h(
      'p',
      { class: 'meta' },
      h('span', { 'data-k': 'model' }, '–'),
      ' · ',
      h('span', { 'data-k': 'ep' }, '–'),
      ' · ',
      h('span', { 'data-k': 'size' }, '–'),
      ' · ',
      h('span', { 'data-k': 'reconnects' }, '–'),
    );
    const inferenceMeta = h('p', { class: 'meta' }, h('span', { 'data-k': 'inference', title: 'the process that runs the model (restarted when it dies or hangs)' }, '–'));
    const reason = h('p', { class: 'reason', 'data-k': 'reason' });
    const fpsBox = h('div', { class: 'chart' });
    const latBox = h('div', { class: 'chart' });
    this.el = h(
      'article',
      { class: 'card', 'data-stream': id, 'data-state': 'connecting', 'aria-labelledby': titleId },
      h(
        'header',
        { class: 'card-head' },
        h('h2', { id: titleId }, id),
        // only the state is announced (not the ticking age)
        h(
          'p',
          { class: 'state' },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'state-label', 'data-k': 'state', role: 'status' }, 'connecting'),
          h('span', { class: 'ago', 'data-k': 'ago', title: 'since the last new frame' }, '–'),
        ),
      ),
      this.view,
      h('div', { class: 'controls' }, this.compareBtn, this.splitInput, this.snapBtn, this.fullBtn),
      stats,
      meta,
      inferenceMeta,
      reason,
      h('div', { class: 'charts' }, h('figure', {}, h('figcaption', {}, 'fps'), fpsBox), h('figure', {}, h('figcaption', {}, 'latency and inference, ms'), latBox)),
    );
    for (const el of this.el.querySelectorAll<HTMLElement>('.meta [data-k], .state [data-k], .reason')) this.fields.set(el.dataset.k!, el);
    this.fpsChart = new TimeChart(fpsBox, [{ label: 'fps', color: '#6cc3ff' }], { unit: 'fps', minMax: 5 });
    this.latencyChart = new TimeChart(
      latBox,
      [
        { label: 'capture → display', color: '#ffb454' },
        { label: 'inference', color: '#b4a7ff', dash: true },
      ],
      { unit: 'ms', minMax: 50 },
    );
    this.wire();
  }

  private wire(): void {
    this.compareBtn.addEventListener('click', () => this.setCompare(!this.compare));
    this.fullBtn.addEventListener('click', () => this.setFull(!this.full));
    this.snapBtn.addEventListener('click', () => void this.downloadSnapshot());
    this.splitInput.addEventListener('input', () => this.setSplit(Number(this.splitInput.value) / 100));
    this.view.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.setFull(!this.full);
      } else if (this.compare && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
        e.preventDefault();
        this.setSplit(this.split + (e.key === 'ArrowLeft' ? -0.05 : 0.05));
      }
    });
    // In compare mode a drag moves the split; a click (no drag) opens or closes full size.
    this.view.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      this.drag = { x: e.clientX, moved: false };
      this.view.setPointerCapture(e.pointerId);
    });
    this.view.addEventListener('pointermove', (e) => {
      if (!this.drag || !this.compare) return;
      if (!this.drag.moved && Math.abs(e.clientX - this.drag.x) < DRAG_PX) return;
      this.drag.moved = true;
      this.setSplit(this.splitAt(e.clientX));
    });
    this.view.addEventListener('pointerup', () => {
      const d = this.drag;
      this.drag = null;
      if (d && !d.moved) this.setFull(!this.full);
    });
    this.view.addEventListener('pointercancel', () => (this.drag = null));
  }

  /** the split fraction under a pointer, within the picture (the canvas is letterboxed) */
  private splitAt(clientX: number): number {
    const r = this.canvas.getBoundingClientRect();
    const scale = Math.min(r.width / this.canvas.width, r.height / this.canvas.height);
    const w = this.canvas.width * scale;
    return (clientX - r.left - (r.width - w) / 2) / w;
  }

  private setSplit(v: number): void {
    this.split = Math.min(1, Math.max(0, v));
    const pct = String(Math.round(this.split * 100));
    if (this.splitInput.value !== pct) this.splitInput.value = pct;
    this.el.style.setProperty('--split', `${this.split * 100}%`);
    this.schedule();
  }

  setCompare(on: boolean): void {
    if (on === this.compare) return;
    this.compare = on;
    this.el.classList.toggle('comparing', on);
    this.compareBtn.setAttribute('aria-pressed', String(on));
    this.view.setAttribute('aria-label', on ? `${this.id}: input left, derained right; arrow keys move the split; Enter opens full size` : `${this.id}: live video; Enter opens full size`);
    if (on) this.openInput();
    else {
      this.inputSocket?.close();
      this.inputSocket = null;
      for (const b of this.inputs.values()) b.close();
      this.inputs.clear();
    }
    this.schedule();
  }

  setFull(on: boolean): void {
    if (on === this.full) return;
    this.full = on;
    this.el.classList.toggle('full', on);
    this.fullBtn.setAttribute('aria-pressed', String(on));
    this.fullBtn.textContent = on ? 'Close full size' : 'Full size';
    this.host.fullChanged(this, on);
    this.view.focus();
  }

  get isFull(): boolean {
    return this.full;
  }

  private openDerained(): void {
    this.derainedSocket ??= new FrameSocket(() => this.host.socketUrl(this.id, false), {
      frame: (hd, jpeg) => this.derainedDecoder.push(hd, jpeg),
      status: (open, why) => this.setVideoProblem(open ? (this.current ? null : 'waiting for the first frame…') : why),
    });
  }

  private openInput(): void {
    this.inputSocket ??= new FrameSocket(() => this.host.socketUrl(this.id, true), {
      frame: (hd, jpeg) => this.inputDecoder.push(hd, jpeg),
      status: () => {},
    });
  }

  private setVideoProblem(text: string | null): void {
    this.videoProblem = text;
    this.notice.hidden = text === null;
    if (text !== null) setText(this.notice, text);
  }

  private gotDerained(header: FrameHeader, bitmap: ImageBitmap, jpeg: Blob): void {
    const old = this.current;
    this.current = { header, bitmap, jpeg };
    old?.bitmap.close();
    if (this.videoProblem) this.setVideoProblem(null);
    this.el.classList.toggle('stale', header.stale);
    this.schedule();
  }

  private gotInput(header: FrameHeader, bitmap: ImageBitmap): void {
    if (!this.compare) {
      bitmap.close();
      return;
    }
    this.inputs.get(header.seq)?.close();
    this.inputs.set(header.seq, bitmap);
    while (this.inputs.size > INPUTS_KEPT) {
      const [oldest] = this.inputs.keys();
      this.inputs.get(oldest)!.close();
      this.inputs.delete(oldest);
    }
    this.el.dataset.inputSeq = String(header.seq);
    this.schedule();
  }

  /** The input frame the derained frame `seq` came from, else the nearest older one, else the newest. */
  private inputFor(seq: number): ImageBitmap | null {
    const exact = this.inputs.get(seq);
    if (exact) return exact;
    let best: number | null = null;
    let newest: number | null = null;
    for (const s of this.inputs.keys()) {
      if (s <= seq && (best === null || s > best)) best = s;
      if (newest === null || s > newest) newest = s;
    }
    const k = best ?? newest;
    return k === null ? null : this.inputs.get(k)!;
  }

  private schedule(): void {
    this.raf ||= requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.raf = 0;
    const cur = this.current;
    if (!cur) return;
    const { width, height, seq, stale, capturedAt } = cur.header;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.ctx.drawImage(cur.bitmap, 0, 0, width, height);
    if (this.compare) {
      const x = Math.round(width * this.split);
      const input = this.inputFor(seq);
      if (input) {
        this.ctx.save();
        this.ctx.beginPath();
        this.ctx.rect(0, 0, x, height);
        this.ctx.clip();
        this.ctx.drawImage(input, 0, 0, width, height);
        this.ctx.restore();
      }
      this.ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      this.ctx.fillRect(x - 1, 0, 2, height);
    }
    if (seq !== this.drawnSeq) {
      this.drawnSeq = seq;
      this.el.dataset.seq = String(seq);
      if (!stale) {
        const now = Date.now();
        this.shown.add(1, now);
        this.latency.add(now - capturedAt, now);
        this.lastFreshAt = now;
      }
    }
  }

  private async downloadSnapshot(): Promise<void> {
    const cur = this.current;
    let blob: Blob;
    let at: Date;
    try {
      if (cur) {
        blob = cur.jpeg;
        at = new Date(cur.header.capturedAt);
      } else {
        blob = await fetchSnapshot(this.id, this.host.token());
        at = new Date();
      }
    } catch (err) {
      this.setVideoProblem(`snapshot: ${(err as Error).message}`);
      return;
    }
    const a = h('a', { href: URL.createObjectURL(blob), download: `${this.id}-${at.toISOString().replace(/:/g, '-')}.jpg`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 30_000);
  }

  /** The newest status from /api/streams. */
  update(s: StreamView): void {
    this.status = s;
    if (s.outputs.ws) this.openDerained();
    else this.setVideoProblem('this stream has no WebSocket output (outputs.ws: false)');
    const f = this.fields;
    setText(f.get('infer')!, formatNumber(s.inferenceMs?.p50, 1));
    const drops = totalDrops(s.dropped);
    setText(f.get('drops')!, String(drops));
    f.get('drops')!.parentElement!.parentElement!.title =
      `dropped frames: ${s.dropped.behind} behind (inference could not keep up), ${s.dropped.slow_client} to slow clients, ${s.dropped.encoder_behind} encoder behind`;
    setText(f.get('model')!, s.model ?? 'model –');
    setText(f.get('ep')!, s.ep ?? 'ep –');
    const size =
      s.width && s.height ? `${s.width}×${s.height}${s.inferWidth && (s.inferWidth !== s.width || s.inferHeight !== s.height) ? ` (model at ${s.inferWidth}×${s.inferHeight})` : ''}` : 'size –';
    setText(f.get('size')!, size);
    setText(f.get('reconnects')!, `${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}`);
    setText(f.get('inference')!, inferenceLabel(s.inference));
    f.get('inference')!.title = s.inference?.lastExit ? `last exit: ${s.inference.lastExit}` : 'the process that runs the model (restarted when it dies or hangs)';
    const reason = s.state === 'live' ? '' : (s.reason ?? '');
    setText(f.get('reason')!, reason);
    f.get('reason')!.title = reason; // the whole of it, when the line cuts it short
    this.tick();
  }

  /** ms since the last new frame: as seen here when video flows, else as the server says */
  private sinceLastFrame(now: number): number | null {
    if (this.lastFreshAt !== null) return now - this.lastFreshAt;
    const at = this.status?.lastFrameAt ? Date.parse(this.status.lastFrameAt) : NaN;
    return Number.isFinite(at) ? Math.max(0, now - at) : null;
  }

  /** Refreshes the moving numbers (a few times a second). */
  tick(now = Date.now()): void {
    const s = this.status;
    const since = this.sinceLastFrame(now);
    if (s && s.state !== 'live') this.notLiveSince ??= now;
    else this.notLiveSince = null;
    const quiet = since ?? (this.notLiveSince === null ? null : now - this.notLiveSince);
    const label = s ? sourceLabel(s.state, quiet) : 'connecting';
    if (this.el.dataset.state !== label) this.el.dataset.state = label;
    const f = this.fields;
    // (the outputs repeat the last frame while the inference process restarts, as when a camera is down)
    const restarting = label === 'reconnecting' && s?.inference?.state === 'restarting';
    setText(f.get('state')!, restarting ? 'restarting' : STATE_TEXT[label]);
    setText(this.staleTag, restarting ? 'last frame repeated: inference restarting' : 'last frame repeated: camera down');
    setText(f.get('ago')!, since === null ? '–' : `${formatAgo(since)} ago`);
    setText(f.get('fps')!, formatNumber(this.shown.rate(now), 1));
    setText(f.get('latency')!, formatNumber(this.latency.median(now), 0));
  }

  /** One chart sample (once a second). */
  sample(now = Date.now()): void {
    const t = now / 1000;
    this.fpsChart.push(t, [this.shown.rate(now)]);
    this.latencyChart.push(t, [this.latency.median(now), this.status?.state === 'live' ? (this.status.inferenceMs?.p50 ?? null) : null]);
  }

  close(): void {
    this.derainedSocket?.close();
    this.inputSocket?.close();
    this.el.remove();
  }
}
