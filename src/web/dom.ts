// A tiny element builder. Text always goes in as text (textContent), never as HTML: stream
// ids and ffmpeg's reasons come from the server.

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children);
  return el;
}

/** Sets text only when it changed (no needless layout work ten times a second). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
