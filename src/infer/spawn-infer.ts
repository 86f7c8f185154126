// Starting the inference process: node running infer-process, with the message pipe on fd 3.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Run as .ts under tsx (tests), as .js once built.
const here = fileURLToPath(import.meta.url);
const entry = path.join(path.dirname(here), `infer-process${path.extname(here)}`);

/**
 * Built, the entry is plain JavaScript; from sources (tests, tsx) node loads the TypeScript
 * loader first. `slotsFd`: the frame slots' shared memory, which the process gets as fd 4.
 */
export function spawnInferProcess(slotsFd: number | null): ChildProcess {
  const args = entry.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), entry] : [entry];
  // stdout goes to stderr: `derain run --json` writes its summary on stdout, and nothing the
  // inference process might print may land in it.
  return spawn(process.execPath, args, { stdio: ['ignore', 2, 'inherit', 'pipe', slotsFd ?? 'ignore'] });
}
