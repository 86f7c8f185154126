// The access token: taken from ?token= once (and removed from the address bar at once, so it
// is not bookmarked, shared or sent as a referrer) or from the login form, kept in this tab's
// sessionStorage, and only ever sent in headers and WebSocket URLs, never written into the page.

const KEY = 'derain.token';

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage blocked: the token lives as long as the page
  }
}

let memory: string | null = null;

/** Moves a ?token= from the address into storage; returns the token to use, if any. */
export function takeToken(): string | null {
  const url = new URL(window.location.href);
  const given = url.searchParams.get('token');
  if (given !== null) {
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    if (given) saveToken(given);
  }
  return memory ?? storage()?.getItem(KEY) ?? null;
}

export function saveToken(token: string): void {
  memory = token;
  storage()?.setItem(KEY, token);
}

export function forgetToken(): void {
  memory = null;
  storage()?.removeItem(KEY);
}

export function authHeaders(token: string | null): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
