// A bounded ring of preallocated frame slots between a decoder and its consumer.
//   block:       the decoder waits for a free slot (files: nothing is ever dropped)
//   drop-oldest: the oldest unconsumed frame gives up its slot (live: latency stays bounded),
//                and every drop is counted
import type { Frame } from '../frame.js';

export type RingPolicy = 'block' | 'drop-oldest';
type Meta = Omit<Frame, 'data'>;

export class FrameRing {
  private readonly free: Buffer[] = [];
  private readonly queue: Frame[] = [];
  private leased: Buffer | null = null;
  private ended = false;
  private closed = false;
  private error: Error | null = null;
  private wakeProducer: (() => void) | null = null;
  private wakeConsumer: (() => void) | null = null;
  dropped = 0;

  constructor(
    readonly capacity: number,
    readonly frameBytes: number,
    readonly policy: RingPolicy,
    private readonly onDrop: (frame: Meta) => void = () => {},
  ) {
    if (capacity < 2) throw new Error('a frame ring needs at least two slots');
    for (let i = 0; i < capacity; i++) this.free.push(Buffer.alloc(frameBytes));
  }

  /** Frames decoded and not yet taken by the consumer. */
  get depth(): number {
    return this.queue.length;
  }

  /** A slot for the decoder to fill; refused once the ring is closed. */
  async acquire(): Promise<Buffer> {
    for (;;) {
      if (this.closed) throw new Error('the frame ring is closed');
      const slot = this.acquireNow();
      if (slot) return slot;
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
  }

  /**
   * A slot now, or null: drop-oldest always has one (a free slot, or the oldest frame's) unless
   * the ring is closed; block has one only while a slot is free.
   */
  acquireNow(): Buffer | null {
    if (this.closed) return null;
    const slot = this.free.pop();
    if (slot) return slot;
    if (this.policy === 'drop-oldest' && this.queue.length > 0) {
      const oldest = this.queue.shift()!;
      this.dropped++;
      this.onDrop(oldest);
      return oldest.data;
    }
    return null;
  }

  /** Hands a filled slot to the consumer. */
  commit(data: Buffer, meta: Meta): void {
    this.queue.push({ ...meta, data });
    this.wake('consumer');
  }

  /** Returns an unfilled slot (the decoder stopped mid-frame). */
  giveBack(slot: Buffer): void {
    this.free.push(slot);
    this.wake('producer');
  }

  /** The decoder is being stopped: a decoder waiting for a slot gives up (queued frames still come out). */
  close(): void {
    this.closed = true;
    this.wake('producer');
  }

  /** No more frames will come; an error is thrown to the consumer after the queued frames. */
  end(error?: Error): void {
    this.ended = true;
    this.error = error ?? null;
    this.wake('consumer');
  }

  private wake(who: 'producer' | 'consumer'): void {
    const fn = who === 'producer' ? this.wakeProducer : this.wakeConsumer;
    if (who === 'producer') this.wakeProducer = null;
    else this.wakeConsumer = null;
    fn?.();
  }

  private releaseLease(): void {
    if (this.leased) {
      this.free.push(this.leased);
      this.leased = null;
      this.wake('producer');
    }
  }

  /** The frames in order. A yielded frame's data stays valid until the next one is asked for. */
  async *frames(): AsyncGenerator<Frame> {
    try {
      for (;;) {
        this.releaseLease();
        const next = this.queue.shift();
        if (next) {
          this.leased = next.data;
          yield next;
          continue;
        }
        if (this.ended) {
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      }
    } finally {
      this.releaseLease();
    }
  }
}
