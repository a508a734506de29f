// One IRC connection over a WebSocket (IRCv3 WebSocket spec, text.ircv3.net):
// CAP 302 negotiation, ISUPPORT, batches, labeled requests and a keepalive.

import { casefold, formatMessage, parseMessage } from "./irc.js";

/** The capabilities the web client asks for (those the server offers). */
export const WANTED_CAPS = [
  "message-tags",
  "server-time",
  "echo-message",
  "batch",
  "labeled-response",
  "account-tag",
  "account-notify",
  "away-notify",
  "extended-join",
  "multi-prefix",
  "userhost-in-names",
  "setname",
  "invite-notify",
  "chghost",
  "cap-notify",
  "extended-monitor",
  "draft/chathistory",
  "draft/event-playback",
  "draft/read-marker",
  "draft/multiline",
  "draft/message-redaction",
  "soju.im/search",
];

const REQUEST_TIMEOUT_MS = 20000;
const PING_EVERY_MS = 30000;
const DEAD_AFTER_MS = 75000;

/**
 * Events (all CustomEvent):
 *   "message"  detail = a parsed message, or a finished top-level batch {isBatch, type, params, tags, source, items}
 *   "registered", "ready" (end of the welcome burst), "close" detail = {reason}
 */
export class IrcConnection extends EventTarget {
  constructor(url, nick) {
    super();
    this.url = url;
    this.nick = nick;
    this.ws = null;
    this.available = new Map();
    this.caps = new Set();
    this.isupport = new Map();
    this.registered = false;
    this.closed = false;
    this.batches = new Map();
    this.pending = new Map();
    this.labelCounter = 0;
    this.capReqsOutstanding = 0;
    this.capLsDone = false;
    this.lastReceived = Date.now();
    this.keepalive = null;
    this.casemapping = "rfc1459";
  }

  /** Open the socket and register. */
  open() {
    const ws = new WebSocket(this.url, ["text.ircv3.net"]);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.lastReceived = Date.now();
      this.sendRaw("CAP LS 302");
      this.send("NICK", [this.nick]);
      this.send("USER", [this.nick, "0", "*", this.nick]);
      this.keepalive = setInterval(() => this.checkAlive(), PING_EVERY_MS);
    });
    ws.addEventListener("message", (event) => {
      this.lastReceived = Date.now();
      if (typeof event.data !== "string") return;
      for (const line of event.data.split(/\r?\n/)) {
        if (line) this.onLine(line);
      }
    });
    ws.addEventListener("close", (event) => this.onClose(event.reason || "connection closed"));
    ws.addEventListener("error", () => {
      /* a close event follows */
    });
  }

  /** Close for good (no "close" reconnect logic is expected after this). */
  close() {
    this.closed = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      try {
        this.sendRaw("QUIT :Logged out");
      } catch {
        /* not open */
      }
      this.ws.close(1000);
    }
    this.cleanup("closed");
  }

  checkAlive() {
    const idle = Date.now() - this.lastReceived;
    if (idle > DEAD_AFTER_MS) {
      this.ws?.close();
      this.onClose("ping timeout");
    } else if (idle > PING_EVERY_MS / 2 && this.registered) {
      this.sendRaw("PING :keepalive");
    }
  }

  cleanup(reason) {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(reason));
    }
    this.pending.clear();
    this.batches.clear();
  }

  onClose(reason) {
    if (this.ws === null) return;
    this.ws = null;
    const wasRegistered = this.registered;
    this.registered = false;
    this.cleanup(reason);
    if (!this.closed) this.emit("close", { reason, wasRegistered });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  sendRaw(line) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(line);
  }

  send(command, params = [], tags = {}) {
    if (!this.caps.has("message-tags")) {
      tags = Object.fromEntries(Object.entries(tags).filter(([k]) => k === "label" || k === "batch"));
    }
    if (!this.caps.has("labeled-response")) delete tags.label;
    this.sendRaw(formatMessage(command, params, tags));
  }

  nextLabel() {
    this.labelCounter += 1;
    return "w" + this.labelCounter;
  }

  /**
   * Send a labeled command; resolves with the response as a list of messages and batches
   * (a labeled-response batch is unwrapped). With exclusive, the response is not also
   * handled as ordinary traffic.
   */
  request(command, params = [], { tags = {}, exclusive = false, label = null } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new Error("not connected"));
        return;
      }
      if (!this.caps.has("labeled-response")) {
        this.send(command, params, tags);
        resolve([]);
        return;
      }
      const id = label || this.nextLabel();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("no answer from the server"));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, exclusive });
      this.send(command, params, { ...tags, label: id });
    });
  }

  /** Register a label for lines sent separately (a client batch), like request(). */
  expectLabel(id, { exclusive = false } = {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("no answer from the server"));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, exclusive });
    });
  }

  fold(name) {
    return casefold(name, this.casemapping);
  }

  isChannel(name) {
    const types = this.isupport.get("CHANTYPES") ?? "#&";
    return !!name && types.includes(name[0]);
  }

  /** Prefix modes as [[mode, symbol], ...], highest first. */
  get prefixes() {
    const value = this.isupport.get("PREFIX") ?? "(ov)@+";
    const match = /^\((\w*)\)(.*)$/.exec(value);
    if (!match) return [];
    return [...match[1]].map((mode, i) => [mode, match[2][i]]);
  }

  // -- incoming -------------------------------------------------------------------------

  onLine(line) {
    let msg;
    try {
      msg = parseMessage(line);
    } catch {
      return;
    }
    if (msg.command === "BATCH") {
      this.onBatch(msg);
      return;
    }
    const ref = msg.tags.batch;
    if (ref && this.batches.has(ref)) {
      this.batches.get(ref).items.push(msg);
      return;
    }
    this.onTopLevel(msg);
  }

  onBatch(msg) {
    const token = msg.params[0] ?? "";
    const ref = token.slice(1);
    if (token.startsWith("+")) {
      const batch = {
        isBatch: true,
        ref,
        type: msg.params[1] ?? "",
        params: msg.params.slice(2),
        tags: msg.tags,
        source: msg.source,
        items: [],
        parent: null,
      };
      const parent = msg.tags.batch && this.batches.get(msg.tags.batch);
      if (parent) {
        batch.parent = parent;
        parent.items.push(batch);
      }
      this.batches.set(ref, batch);
    } else if (token.startsWith("-")) {
      const batch = this.batches.get(ref);
      if (!batch) return;
      this.batches.delete(ref);
      if (!batch.parent) this.onTopLevel(batch);
    }
  }

  onTopLevel(item) {
    const label = item.tags?.label;
    if (label !== undefined && this.pending.has(label)) {
      const entry = this.pending.get(label);
      this.pending.delete(label);
      clearTimeout(entry.timer);
      const response = item.isBatch && item.type === "labeled-response" ? item.items : [item];
      entry.resolve(response);
      if (entry.exclusive) return;
      for (const part of response) this.handle(part);
      return;
    }
    if (item.isBatch && item.type === "labeled-response") {
      for (const part of item.items) this.handle(part);
      return;
    }
    this.handle(item);
  }

  handle(item) {
    if (!item.isBatch) this.onProtocol(item);
    this.emit("message", item);
  }

  onProtocol(msg) {
    switch (msg.command) {
      case "PING":
        this.send("PONG", msg.params);
        break;
      case "CAP":
        this.onCap(msg);
        break;
      case "001":
        this.registered = true;
        this.nick = msg.params[0];
        this.emit("registered", {});
        break;
      case "005":
        for (const token of msg.params.slice(1, -1)) {
          if (token.startsWith("-")) {
            this.isupport.delete(token.slice(1));
            continue;
          }
          const eq = token.indexOf("=");
          const key = eq < 0 ? token : token.slice(0, eq);
          const value =
            eq < 0
              ? ""
              : token.slice(eq + 1).replace(/\\x([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
          this.isupport.set(key, value);
          if (key === "CASEMAPPING") this.casemapping = value;
        }
        break;
      case "376":
      case "422":
        if (!this.readySent) {
          this.readySent = true;
          this.emit("ready", {});
        }
        break;
      case "NICK":
        if (msg.source && this.fold(msg.source.split("!")[0]) === this.fold(this.nick)) this.nick = msg.params[0];
        break;
      default:
        break;
    }
  }

  onCap(msg) {
    const sub = (msg.params[1] ?? "").toUpperCase();
    const more = msg.params.length > 3 && msg.params[2] === "*";
    const list = (msg.params[msg.params.length - 1] ?? "").split(" ").filter(Boolean);
    if (sub === "LS" || sub === "NEW") {
      for (const entry of list) {
        const eq = entry.indexOf("=");
        this.available.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? "" : entry.slice(eq + 1));
      }
      if (sub === "LS" && more) return;
      const names = sub === "LS" ? [...this.available.keys()] : list.map((e) => e.split("=")[0]);
      const wanted = names.filter((name) => WANTED_CAPS.includes(name) && !this.caps.has(name));
      if (sub === "LS") this.capLsDone = true;
      if (!wanted.length) {
        if (sub === "LS" && !this.registered) this.sendRaw("CAP END");
        return;
      }
      let chunk = [];
      const flush = () => {
        if (!chunk.length) return;
        this.capReqsOutstanding += 1;
        this.send("CAP", ["REQ", chunk.join(" ")]);
        chunk = [];
      };
      for (const name of wanted) {
        if (chunk.join(" ").length + name.length > 350) flush();
        chunk.push(name);
      }
      flush();
    } else if (sub === "ACK" || sub === "NAK") {
      if (sub === "ACK") {
        for (const entry of list) {
          if (entry.startsWith("-")) this.caps.delete(entry.slice(1));
          else this.caps.add(entry);
        }
      }
      this.capReqsOutstanding = Math.max(0, this.capReqsOutstanding - 1);
      if (!this.capReqsOutstanding && !this.registered) this.sendRaw("CAP END");
    } else if (sub === "DEL") {
      for (const name of list) {
        this.caps.delete(name);
        this.available.delete(name);
      }
    }
  }
}
