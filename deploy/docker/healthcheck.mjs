#!/usr/bin/env node
// Liveness of `derain serve` for Docker's HEALTHCHECK and Kubernetes' probes: exit 0 when the
// process's HTTP server answers /livez with 200, 1 otherwise (refused, timed out, any other status).
//
// Not /healthz: it is 503 while any camera is down or stale, which is the camera's fault, not the
// container's, and must not restart it or take the pod's other cameras off the Service. /livez is
// open without the token and 200 whatever the cameras do (also on a shard with no cameras).
//
// DERAIN_HEALTH_URL (default http://127.0.0.1:8080) is the server's base URL inside the container.
const base = (process.env.DERAIN_HEALTH_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.DERAIN_HEALTH_TIMEOUT_MS || 3000);

try {
  const res = await fetch(`${base}/livez`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  await res.arrayBuffer();
  if (res.status === 200) process.exit(0);
  console.error(`${base}/livez answered ${res.status}`);
  process.exit(1);
} catch (err) {
  console.error(`${base}: ${err.cause?.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
