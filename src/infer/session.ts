// onnxruntime sessions and the choice of execution provider.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { EpUnavailableError } from './errors.js';

export type EpChoice = 'auto' | 'tensorrt' | 'cuda' | 'cpu';
export const EP_CHOICES: readonly EpChoice[] = ['auto', 'tensorrt', 'cuda', 'cpu'];
const AUTO_ORDER = ['tensorrt', 'cuda', 'cpu'] as const;
type Ep = (typeof AUTO_ORDER)[number];

const PROVIDER_LIBRARY: Record<Ep, string | null> = {
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
  cuda: 'libonnxruntime_providers_cuda.so',
  cpu: null,
};

/** The GPU providers ship only when installed with ONNXRUNTIME_NODE_INSTALL=cuda12. */
function providerInstalled(ep: Ep): boolean {
  const lib = PROVIDER_LIBRARY[ep];
  if (!lib) return true;
  const req = createRequire(import.meta.url);
  const root = path.dirname(path.dirname(req.resolve('onnxruntime-node')));
  const dir = path.join(root, 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(path.join(dir, lib));
}

/** Whether this install can run on a GPU at all (onnxruntime-node installed with its CUDA providers). */
export function gpuProvidersInstalled(): boolean {
  return providerInstalled('cuda') || providerInstalled('tensorrt');
}

/** Why `ep` cannot run on this install, or null when it may (whether a device answers is known only at open). */
export function epUnavailableReason(ep: EpChoice): string | null {
  if (ep === 'auto' || providerInstalled(ep)) return null;
  return `${ep}: provider not installed (install with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  ep: Ep;
  /** why the providers before `ep` were passed over (for `auto`) */
  skipped: string[];
}

export interface SessionOptions {
  ep: EpChoice;
  threads?: number;
}

/**
 * onnxruntime's own logger writes straight to stderr, in colour and over several lines, beside
 * the error it also throws (a failing node at run time: "[E:onnxruntime:, sequential_executor.cc
 * ...]"). The thrown error is the one our messages carry, so the logger says only what is fatal
 * (4), unless DEBUG is set: then it says what onnxruntime says by default, from warnings (2) up.
 */
export function ortLogSeverity(): 2 | 4 {
  return process.env.DEBUG ? 2 : 4;
}

async function create(bytes: Uint8Array, ep: Ep, threads?: number): Promise<ort.InferenceSession> {
  const providers: ort.InferenceSession.ExecutionProviderConfig[] = ep === 'tensorrt' ? [{ name: 'tensorrt' }, { name: 'cuda' }] : ep === 'cuda' ? [{ name: 'cuda' }] : [{ name: 'cpu' }];
  return ort.InferenceSession.create(bytes, {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    logSeverityLevel: ortLogSeverity(),
    // Spinning idle threads take CPU from the ffmpeg decoder and encoder running beside them:
    // measured on the 2-core bench, pipeline 42 → 49 fps with the built-in model.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    intraOpNumThreads: threads ?? cpuThreads(),
  });
}

/**
 * The threads a session gets when none are asked for: every core this process may run on.
 * onnxruntime's own default is its count of physical cores, and on some hosts it counts one
 * where there are two: measured on a 2-core AMD EPYC VM (1 thread a core), unset ran the
 * convolution peak at 216 GFLOP/s and 2 threads at 370-420, the t5 model 15.9 against 19.8 fps.
 */
export function cpuThreads(): number {
  return os.availableParallelism();
}

export async function openSession(bytes: Uint8Array, opts: SessionOptions): Promise<OpenedSession> {
  const order: readonly Ep[] = opts.ep === 'auto' ? AUTO_ORDER : [opts.ep];
  const skipped: string[] = [];
  for (const ep of order) {
    if (!providerInstalled(ep)) {
      const why = `${ep}: provider not installed (install with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
      if (opts.ep !== 'auto') throw new EpUnavailableError(why);
      skipped.push(why);
      continue;
    }
    try {
      return { session: await create(bytes, ep, opts.threads), ep, skipped };
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      // A CPU failure is the model's fault, not the provider's: report it as such.
      if (ep === 'cpu' || opts.ep !== 'auto') throw ep === 'cpu' ? err : new EpUnavailableError(`${ep}: ${msg}`);
      skipped.push(`${ep}: ${msg}`);
    }
  }
  throw new EpUnavailableError(`no execution provider could run the model: ${skipped.join('; ')}`);
}
