#!/usr/bin/env node
// Liveness of `derain serve` for Docker's HEALTHCHECK and Kubernetes' probes: exit 0 when the
// process's HTTP server answers, 1 when it does not (refused, timed out, a 5xx other than 503).
//
// /livez (where this version of serve has it) says the process works: 200. Without it (404),
// /healthz is asked, and its 503 counts as alive too: /healthz is 503 while any camera is down
// or stale, which is the camera's fault, not the container's, and must not restart it.
//
// DERAIN_HEALTH_URL (default http://127.0.0.1:8080) is the server's base URL inside the container.
const base = (process.env.DERAIN_HEALTH_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.DERAIN_HEALTH_TIMEOUT_MS || 3000);

async function status(path) {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  await res.arrayBuffer();
  return res.status;
}

try {
  const live = await status('/livez');
  if (live === 200) process.exit(0);
  if (live !== 404) {
    console.error(`${base}/livez answered ${live}`);
    process.exit(1);
  }
  const health = await status('/healthz');
  if (health === 200 || health === 503) process.exit(0);
  console.error(`${base}/healthz answered ${health}`);
  process.exit(1);
} catch (err) {
  console.error(`${base}: ${err.cause?.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
