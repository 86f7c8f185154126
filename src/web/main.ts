// The dashboard page: signs in when the server has a token, polls /api/streams, and keeps
// one card per stream.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { fetchStreams, frameSocketUrl, TooManyTries, Unauthorized, type StreamView } from './api.js';
import { forgetToken, saveToken, takeToken } from './auth.js';
import { setText } from './dom.js';
import { StreamCard } from './stream-card.js';

const POLL_MS = 1000;
const TICK_MS = 250;

// First of all, so a ?token= leaves the address bar before anything else happens.
let token = takeToken();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const grid = $('grid');
const login = $('login');
const loginForm = $<HTMLFormElement>('login-form');
const loginInput = $<HTMLInputElement>('token');
const loginError = $('login-error');
const summary = $('summary');
const server = $('server');
const signOut = $<HTMLButtonElement>('signout');
const empty = $('empty');

const cards = new Map<string, StreamCard>();
let pollTimer: number | undefined;
let polling = false;

const host = {
  socketUrl: (id: string, raw: boolean) => frameSocketUrl(window.location.href, id, { raw, token }),
  token: () => token,
  fullChanged(card: StreamCard, full: boolean) {
    // the full-size view is the whole page: everything else is out of reach until it closes
    document.body.classList.toggle('has-full', full);
    for (const other of document.querySelectorAll<HTMLElement>('body > header, body > .skip, #grid > .card')) {
      if (other !== card.el) other.inert = full;
    }
  },
};

function render(streams: StreamView[]): void {
  const seen = new Set<string>();
  for (const s of streams) {
    seen.add(s.id);
    let card = cards.get(s.id);
    if (!card) {
      card = new StreamCard(s.id, host);
      cards.set(s.id, card);
    }
    if (grid.children[streams.indexOf(s)] !== card.el) grid.insertBefore(card.el, grid.children[streams.indexOf(s)] ?? null);
    card.update(s);
  }
  for (const [id, card] of cards) {
    if (seen.has(id)) continue;
    card.close();
    cards.delete(id);
  }
  const live = streams.filter((s) => s.state === 'live').length;
  setText(summary, `${streams.length} stream${streams.length === 1 ? '' : 's'} · ${live} live`);
  empty.hidden = streams.length > 0;
}

function setServer(ok: boolean, text: string): void {
  document.body.classList.toggle('offline', !ok);
  setText(server, text);
}

async function poll(): Promise<void> {
  window.clearTimeout(pollTimer);
  try {
    render(await fetchStreams(token));
    setServer(true, 'connected');
  } catch (err) {
    if (err instanceof Unauthorized) {
      showLogin(token ? 'The saved token was not accepted; enter the current one.' : '');
      return;
    }
    setServer(false, 'server unreachable; retrying');
  }
  if (polling) pollTimer = window.setTimeout(() => void poll(), POLL_MS);
}

function startPolling(): void {
  polling = true;
  login.hidden = true;
  grid.hidden = false;
  signOut.hidden = !token;
  void poll();
}

function showLogin(message: string): void {
  polling = false;
  window.clearTimeout(pollTimer);
  for (const card of cards.values()) card.close();
  cards.clear();
  forgetToken();
  token = null;
  grid.hidden = true;
  empty.hidden = true;
  signOut.hidden = true;
  login.hidden = false;
  setText(loginError, message);
  setText(summary, '');
  setServer(true, 'sign-in needed');
  loginInput.focus();
}

loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const candidate = loginInput.value.trim();
  if (!candidate) return;
  setText(loginError, '');
  fetchStreams(candidate).then(
    () => {
      loginInput.value = '';
      token = candidate;
      saveToken(candidate);
      startPolling();
    },
    (err: Error) => setText(loginError, err instanceof Unauthorized ? 'That token was not accepted.' : err instanceof TooManyTries ? err.message : `Cannot reach the server: ${err.message}`),
  );
});

signOut.addEventListener('click', () => showLogin(''));

document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  for (const card of cards.values()) if (card.isFull) card.setFull(false);
});

window.setInterval(() => {
  const now = Date.now();
  for (const card of cards.values()) card.tick(now);
}, TICK_MS);
window.setInterval(() => {
  const now = Date.now();
  for (const card of cards.values()) card.sample(now);
}, 1000);

startPolling();
