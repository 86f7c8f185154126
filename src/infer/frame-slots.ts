// Frame slots in shared memory: a file on /dev/shm (tmpfs: memory, no disk), unlinked as soon
// as it is open and handed to the inference process as a file descriptor, so nothing is left
// behind however either process ends. A frame is written to a slot and only its slot number
// crosses the pipe. Through the pipe alone a 0.7 MB frame crosses in socket-buffer pieces, a
// wake-up of the other process each, and on a loaded machine every wake-up waits for a CPU:
// measured with bench/transport.ts, see README ("Inference process").
//
// Layout: `count` input slots, then `count` output slots; a frame's output goes to the output
// slot of its input's number. Where there is no /dev/shm, or no room on it (a container's is
// 64 MB by default), or every slot is taken (more frames in flight than slots), frames go
// through the pipe as before.
import { closeSync, existsSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

const SHM_DIR = '/dev/shm';
let made = 0;

export class FrameSlots {
  private readonly free: number[];

  constructor(
    readonly fd: number,
    readonly frameBytes: number,
    readonly count: number,
  ) {
    this.free = Array.from({ length: count }, (_, i) => i);
  }

  /**
   * A new slot file for frames of `frameBytes`, or null where there is none to be had. Its
   * memory is written once here: tmpfs allocates on write, so a full /dev/shm shows now and
   * not in the middle of a stream.
   */
  static create(frameBytes: number, count: number): FrameSlots | null {
    if (!existsSync(SHM_DIR)) return null;
    const file = path.join(SHM_DIR, `derain-frames-${process.pid}-${made++}`);
    let fd: number;
    try {
      fd = openSync(file, 'wx+', 0o600);
    } catch {
      return null;
    }
    unlinkSync(file);
    try {
      const zeros = Buffer.alloc(frameBytes);
      for (let i = 0; i < 2 * count; i++) writeSync(fd, zeros, 0, frameBytes, i * frameBytes);
    } catch {
      closeSync(fd);
      return null;
    }
    return new FrameSlots(fd, frameBytes, count);
  }

  /** A free slot for a frame handed over, or null (the frame goes through the pipe). */
  take(): number | null {
    return this.free.pop() ?? null;
  }

  give(slot: number): void {
    this.free.push(slot);
  }

  writeInput(slot: number, data: Uint8Array): void {
    this.write(data, slot * this.frameBytes);
  }

  readInput(slot: number, into: Buffer): void {
    this.read(into, slot * this.frameBytes);
  }

  writeOutput(slot: number, data: Uint8Array): void {
    this.write(data, (this.count + slot) * this.frameBytes);
  }

  readOutput(slot: number): Buffer {
    // (its own memory: the frame goes on to sinks that keep it)
    const out = Buffer.allocUnsafeSlow(this.frameBytes);
    this.read(out, (this.count + slot) * this.frameBytes);
    return out;
  }

  private write(data: Uint8Array, at: number): void {
    if (data.byteLength !== this.frameBytes) throw new Error(`a ${data.byteLength}-byte frame for ${this.frameBytes}-byte slots`);
    for (let done = 0; done < data.byteLength;) done += writeSync(this.fd, data, done, data.byteLength - done, at + done);
  }

  private read(into: Buffer, at: number): void {
    for (let done = 0; done < this.frameBytes;) {
      const n = readSync(this.fd, into, done, this.frameBytes - done, at + done);
      if (n === 0) throw new Error('the frame slots are shorter than they were made');
      done += n;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
