// The environment that bin/derain (the `derain` command) gives the service: the soak starts the
// service from the sources, and must measure it as users run it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LAUNCHER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'derain');

/** The launcher's defaults (`: "${NAME:=value}"` lines), which a value already set overrides. */
export function launcherDefaults(file = LAUNCHER): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^: "\$\{([A-Za-z_][A-Za-z0-9_]*):=([^}]*)\}"$/gm)) out[m[1]] = m[2];
  return out;
}

/** `env` as the launcher would pass it on. */
export function launcherEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...launcherDefaults(), ...env };
}
