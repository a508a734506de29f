// DOM helpers: elements (never HTML strings), icons, keyed list updates, formatting.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button.primary", {type: "submit", onclick: fn, aria: {label: "Send"}}, "text", child, ...)
 * Text children become text nodes: user text is never parsed as HTML.
 */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = [el.className, value].filter(Boolean).join(" ");
    } else if (key === "aria") {
      for (const [name, v] of Object.entries(value))
        if (v !== undefined && v !== null) el.setAttribute(`aria-${name}`, String(v));
    } else if (key === "data") {
      for (const [name, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[name] = String(v);
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "hidden") {
      el.hidden = !!value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// -- icons (paths after Feather, MIT) ---------------------------------------------------------

const ICONS = {
  x: ["M18 6 6 18", "M6 6l12 12"],
  plus: ["M12 5v14", "M5 12h14"],
  search: ["c:11,11,8", "m21 21-4.35-4.35"],
  menu: ["M3 12h18", "M3 6h18", "M3 18h18"],
  users: [
    "M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2",
    "c:9,7,4",
    "M23 21v-2a4 4 0 0 0-3-3.87",
    "M16 3.13a4 4 0 0 1 0 7.75",
  ],
  send: ["M22 2 11 13", "M22 2 15 22l-4-9-9-4 20-7z"],
  paperclip: [
    "m21.44 11.05-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48",
  ],
  smile: ["c:12,12,10", "M8 14s1.5 2 4 2 4-2 4-2", "M9 9h.01", "M15 9h.01"],
  reply: ["M9 14 4 9l5-5", "M20 20v-7a4 4 0 0 0-4-4H4"],
  trash: [
    "M3 6h18",
    "M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6",
    "M10 11v6",
    "M14 11v6",
    "M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2",
  ],
  logout: ["M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4", "M16 17l5-5-5-5", "M21 12H9"],
  hash: ["M4 9h16", "M4 15h16", "M10 3 8 21", "M16 3l-2 18"],
  file: ["M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z", "M14 2v6h6"],
  download: ["M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4", "M7 10l5 5 5-5", "M12 15V3"],
  shield: ["M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"],
  bell: ["M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9", "M13.73 21a2 2 0 0 1-3.46 0"],
  compass: ["c:12,12,10", "m16.24 7.76-2.12 6.36-6.36 2.12 2.12-6.36 6.36-2.12z"],
  moon: ["M21 12.79A9 9 0 1 1 11.21 3 7 7 0 0 0 21 12.79z"],
  chat: [
    "M21 11.5a8.38 8.38 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.38 8.38 0 0 1-3.8-.9L3 21l1.9-5.7a8.38 8.38 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.38 8.38 0 0 1 3.8-.9h.5a8.48 8.48 0 0 1 8 8v.5z",
  ],
  alert: ["c:12,12,10", "M12 8v4", "M12 16h.01"],
  edit: ["M12 20h9", "M16.5 3.5a2.121 2.121 0 0 1 3 3L7 19l-4 1 1-4L16.5 3.5z"],
  down: ["M12 5v14", "M19 12l-7 7-7-7"],
  key: [
    "m21 2-2 2m-7.61 7.61a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0 3 3L22 7l-3-3m-3.5 3.5L19 4",
  ],
  userplus: ["M16 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2", "c:8.5,7,4", "M20 8v6", "M23 11h-6"],
};

/** An inline SVG icon (decorative: aria-hidden). */
export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", ("icon " + extraClass).trim());
  for (const item of ICONS[name] ?? []) {
    let node;
    if (item.startsWith("c:")) {
      const [cx, cy, r] = item.slice(2).split(",");
      node = document.createElementNS(SVG_NS, "circle");
      node.setAttribute("cx", cx);
      node.setAttribute("cy", cy);
      node.setAttribute("r", r);
    } else if (item.startsWith("r:")) {
      const [x, y, w, hgt, rx] = item.slice(2).split(",");
      node = document.createElementNS(SVG_NS, "rect");
      node.setAttribute("x", x);
      node.setAttribute("y", y);
      node.setAttribute("width", w);
      node.setAttribute("height", hgt);
      node.setAttribute("rx", rx);
    } else {
      node = document.createElementNS(SVG_NS, "path");
      node.setAttribute("d", item);
    }
    svg.append(node);
  }
  return svg;
}

/** A button with an icon and an accessible name (shown as a tooltip). */
export function iconButton(name, label, onclick, extra = {}) {
  const cls = extra.class ? `icon-button ${extra.class}` : "icon-button";
  return h(
    "button",
    { type: "button", title: label, aria: { label, ...(extra.aria ?? {}) }, onclick, ...extra, class: cls },
    icon(name),
  );
}

// -- keyed lists ---------------------------------------------------------------------------

/**
 * Make container's children match items [{key, sig, build}] reusing elements whose sig is
 * unchanged, and moving as few nodes as possible (so focus and scroll stay put).
 */
export function reconcile(container, items) {
  const cache = container.keyedCache ?? new Map();
  const next = new Map();
  const active = document.activeElement;
  let refocus = null;
  const els = [];
  for (const item of items) {
    let entry = cache.get(item.key);
    if (!entry || entry.sig !== item.sig) {
      const el = item.build();
      if (entry && active && entry.el.contains(active)) refocus = el;
      entry = { sig: item.sig, el };
    }
    next.set(item.key, entry);
    els.push(entry.el);
  }
  for (const [key, entry] of cache) {
    if (next.get(key) !== entry) entry.el.remove();
  }
  for (const child of [...container.children]) {
    if (!child.isConnectedKeyed) child.remove();
  }
  let ref = container.firstChild;
  for (const el of els) {
    el.isConnectedKeyed = true;
    if (el === ref) {
      ref = ref.nextSibling;
      continue;
    }
    container.insertBefore(el, ref);
  }
  container.keyedCache = next;
  if (refocus) {
    const target = refocus.matches("[tabindex], button, a, input, textarea")
      ? refocus
      : refocus.querySelector("[tabindex], button");
    target?.focus({ preventScroll: true });
  }
}

// -- formatting ------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const yearDayFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "long", day: "numeric" });
const shortDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export const formatTime = (ms) => timeFormat.format(ms);
export const formatFull = (ms) => fullFormat.format(ms);
export const formatShort = (ms) => shortDate.format(ms);

export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function formatDay(ms) {
  const today = new Date();
  const d = new Date(ms);
  if (dayKey(ms) === dayKey(today.getTime())) return "Today";
  if (dayKey(ms) === dayKey(today.getTime() - 86400000)) return "Yesterday";
  return d.getFullYear() === today.getFullYear() ? dayFormat.format(d) : yearDayFormat.format(d);
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A stable colour class for a nick. */
export function nickClass(nick) {
  let hash = 0;
  for (const ch of nick.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `nc${hash % 10}`;
}

export function initials(nick) {
  const clean = nick.replace(/^[^\p{L}\p{N}]+/u, "");
  return ([...clean][0] ?? "?").toUpperCase();
}

export function avatar(nick, size = "") {
  return h(`span.avatar.${nickClass(nick)}${size ? "." + size : ""}`, { aria: { hidden: "true" } }, initials(nick));
}

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
const IMAGE_EXT = /\.(png|jpe?g|gif|webp)$/i; // the types the server shows inline

/**
 * Information about a file uploaded to this server from a URL: {path, name, image} or null.
 * Only links to the page's own origin count: https://elsewhere/files/a/b is an ordinary link.
 */
export function uploadedFile(url) {
  let parsed;
  try {
    parsed = new URL(url, location.href);
  } catch {
    return null;
  }
  if (parsed.origin !== location.origin) return null;
  const match = /^\/files\/[^/]+\/([^/]+)$/.exec(parsed.pathname);
  if (!match) return null;
  let name = match[1];
  try {
    name = decodeURIComponent(name);
  } catch {
    /* keep it encoded */
  }
  return { path: parsed.pathname, name, image: IMAGE_EXT.test(parsed.pathname) };
}

/** Split text into [{text}|{url}] parts. */
export function splitLinks(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    while (/[.,;:!?)\]}'>]$/.test(url)) {
      if (url.endsWith(")") && (url.match(/\(/g) ?? []).length >= (url.match(/\)/g) ?? []).length) break;
      url = url.slice(0, -1);
    }
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ url });
    last = match.index + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

const EMOJI_RE =
  /(?:[\u{1F000}-\u{1FAFF}]|\p{Extended_Pictographic}\uFE0F)(?:\uFE0F|\u200D\p{Extended_Pictographic}\uFE0F?|[\u{1F3FB}-\u{1F3FF}])*/gu;

/** Append text, with emoji in their own span so that they use a colour emoji font. */
export function appendText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(EMOJI_RE)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    parent.append(h("span.emoji-text", {}, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  return parent;
}

/** Text with links (as <a> elements) and highlighted words; user text only via text nodes. */
export function richText(text, highlight = null) {
  const frag = document.createDocumentFragment();
  for (const part of splitLinks(text)) {
    if (part.url) {
      const file = uploadedFile(part.url);
      const href = file ? file.path : part.url;
      frag.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, part.url));
    } else if (highlight) {
      appendHighlighted(frag, part.text, highlight);
    } else {
      appendText(frag, part.text);
    }
  }
  return frag;
}

function appendHighlighted(frag, text, words) {
  const escaped = words.filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!escaped.length) {
    appendText(frag, text);
    return;
  }
  const re = new RegExp(`(${escaped.join("|")})`, "gi");
  let last = 0;
  for (const match of text.matchAll(re)) {
    if (match.index > last) appendText(frag, text.slice(last, match.index));
    frag.append(h("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) appendText(frag, text.slice(last));
}
