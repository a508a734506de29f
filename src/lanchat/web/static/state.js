// The chat model: conversations, messages, members, presence, read markers, typing.
// It turns IRC traffic into state and state changes into IRC commands; the UI only reads it.

import { HANDLERS, QUIET_NUMERICS } from "./handlers.js";
import { byteLength, escapeTag, isoTime, parseSource, splitBytes, stripFormatting } from "./irc.js";

export const HISTORY_PAGE = 50;
const PENDING_TIMEOUT_MS = 20000;
const LINE_BYTES = 380;
const COUNTED = new Set(["PRIVMSG", "NOTICE", "ACTION"]);
/** Reactions held for messages not loaded (yet), per conversation; the oldest go first. */
const MAX_PENDING_REACTIONS = 500;
/** Messages kept of a conversation that is not open; older ones load again on scrolling up. */
const KEEP_MESSAGES = 1000;

let localCounter = 0;

export class Conversation {
  constructor(name, key, type) {
    this.name = name;
    this.key = key;
    this.type = type; // "channel" | "dm"
    this.messages = [];
    this.byId = new Map();
    this.seen = new Set();
    this.reactionIds = new Map();
    this.pendingReactions = new Map(); // msgid -> [TAGMSG], in arrival order
    this.pendingCount = 0;
    this.topic = "";
    this.members = new Map(); // folded nick -> {nick, prefix}
    this.namesBuffer = null;
    this.joined = type === "dm";
    this.marker = null; // ms of the read marker, null when none
    this.historyState = "none"; // none | loading | loaded | error
    this.oldestCursor = null;
    this.oldestReached = false;
    this.loadingOlder = false;
    this.typing = new Map();
    this.lastActivity = 0;
    this.version = 0;
  }

  /** False when a line with this msgid was seen already; remembers it. A line without one
   *  always counts as new. */
  firstSight(id) {
    if (!id) return true;
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    return true;
  }

  touch() {
    this.version += 1;
  }

  /** The newest message (any sender). */
  get newest() {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (!this.messages[i].pending) return this.messages[i];
    }
    return null;
  }
}

export class ChatState extends EventTarget {
  constructor(account, admin) {
    super();
    this.account = account;
    this.admin = admin;
    this.nick = account;
    this.conn = null;
    this.convs = new Map();
    this.activeKey = null;
    this.users = new Map(); // folded nick -> {nick, away, online}
    this.connected = false;
    this.ready = false;
    this.everConnected = false;
    this.away = null;
    this.hiddenDms = loadJson("lanchat.hiddenDms", {});
    this.keepMessages = KEEP_MESSAGES;
    this.typingTimer = setInterval(() => this.expireTyping(), 1000);
  }

  // -- wiring ---------------------------------------------------------------------------------

  attach(conn) {
    this.conn = conn;
    conn.addEventListener("message", (e) => this.onItem(e.detail));
    conn.addEventListener("registered", () => {
      this.nick = conn.nick;
      this.connected = true;
      this.changed();
    });
    conn.addEventListener("ready", () => this.onReady());
    conn.addEventListener("close", () => {
      this.connected = false;
      this.ready = false;
      for (const conv of this.convs.values()) {
        for (const m of conv.messages) {
          if (m.pending && !m.failed) {
            m.failed = true;
            m.version += 1;
          }
        }
        conv.typing.clear();
        conv.loadingOlder = false;
        if (conv.type === "channel") conv.joined = false; // the server joins us again
        conv.touch();
      }
      this.changed();
    });
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  toast(text, kind = "error") {
    this.emit("toast", { text, kind });
  }

  fold(name) {
    return this.conn ? this.conn.fold(name) : name.toLowerCase();
  }

  isChannel(name) {
    return this.conn ? this.conn.isChannel(name) : name.startsWith("#");
  }

  isMe(nick) {
    return this.fold(nick) === this.fold(this.nick);
  }

  has(cap) {
    return !!this.conn && this.conn.caps.has(cap);
  }

  get active() {
    return this.activeKey ? (this.convs.get(this.activeKey) ?? null) : null;
  }

  user(nick) {
    const key = this.fold(nick);
    let user = this.users.get(key);
    if (!user) {
      user = { nick, away: null, online: null };
      this.users.set(key, user);
    }
    return user;
  }

  conversation(name, create = true) {
    const key = this.fold(name);
    let conv = this.convs.get(key);
    if (!conv && create) {
      conv = new Conversation(name, key, this.isChannel(name) ? "channel" : "dm");
      this.convs.set(key, conv);
    }
    return conv ?? null;
  }

  /** Channels then DMs, as shown in the sidebar. */
  get channels() {
    return [...this.convs.values()].filter((c) => c.type === "channel").sort((a, b) => a.name.localeCompare(b.name));
  }

  get dms() {
    return [...this.convs.values()]
      .filter((c) => c.type === "dm" && !this.isHidden(c))
      .sort((a, b) => b.lastActivity - a.lastActivity || a.name.localeCompare(b.name));
  }

  isHidden(conv) {
    const hiddenAt = this.hiddenDms[conv.key];
    return hiddenAt !== undefined && conv.lastActivity <= hiddenAt && conv.key !== this.activeKey;
  }

  // -- unread and mentions ---------------------------------------------------------------

  isMention(text) {
    const nick = this.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(^|[^\\w])@?${nick}($|[^\\w])`, "i").test(text);
  }

  /** {unread, mentions} counted from the read marker over the loaded messages. */
  unread(conv) {
    let unread = 0;
    let mentions = 0;
    const marker = conv.marker ?? -1;
    for (let i = conv.messages.length - 1; i >= 0; i--) {
      const m = conv.messages[i];
      if (m.time <= marker) break;
      if (m.mine || !COUNTED.has(m.command)) continue;
      unread += 1;
      if (conv.type === "dm" || m.mention) mentions += 1;
    }
    return { unread, mentions, more: unread >= HISTORY_PAGE && !conv.oldestReached };
  }

  totalUnread() {
    let unread = 0;
    let mentions = 0;
    for (const conv of this.convs.values()) {
      const counts = this.unread(conv);
      unread += counts.unread;
      mentions += counts.mentions;
    }
    return { unread, mentions };
  }

  /** Move the read marker to the newest message of a conversation (shared with other devices). */
  markRead(conv) {
    const newest = conv.newest;
    if (!newest || !this.connected) return;
    if (conv.marker !== null && newest.time <= conv.marker) return;
    conv.marker = newest.time;
    conv.touch();
    if (this.has("draft/read-marker")) {
      this.conn.send("MARKREAD", [conv.name, "timestamp=" + (newest.timeTag || isoTime(newest.time))]);
    }
    this.changed();
  }

  // -- activation ---------------------------------------------------------------------------

  setActive(key) {
    const conv = key ? this.convs.get(key) : null;
    const left = this.active;
    this.activeKey = conv ? conv.key : null;
    if (left && left !== conv) this.trim(left);
    if (conv) {
      localStorage.setItem("lanchat.active", conv.name);
      if (conv.type === "dm" && this.hiddenDms[conv.key] !== undefined) {
        delete this.hiddenDms[conv.key];
        saveJson("lanchat.hiddenDms", this.hiddenDms);
      }
      if (conv.historyState === "none" && this.ready) this.loadLatest(conv);
    }
    this.changed();
  }

  /** Open (and create) a direct conversation with a nick. */
  openDm(nick) {
    const conv = this.conversation(nick);
    if (conv.type !== "dm") return conv;
    this.startDm(conv);
    this.setActive(conv.key);
    return conv;
  }

  /** A direct conversation seen for the first time: its history, read marker and presence. */
  startDm(conv) {
    if (!this.ready || conv.historyState !== "none") return;
    this.loadLatest(conv);
    this.conn.send("MARKREAD", [conv.name]);
    this.monitor([conv.name]);
  }

  closeDm(conv) {
    this.hiddenDms[conv.key] = Math.max(conv.lastActivity, Date.now());
    saveJson("lanchat.hiddenDms", this.hiddenDms);
    if (this.activeKey === conv.key) {
      this.activeKey = null;
      localStorage.removeItem("lanchat.active");
    }
    this.pickActive();
    this.changed();
  }

  /** Forget a conversation (a channel left or kicked from); another one opens if it was open. */
  dropConversation(conv) {
    this.convs.delete(conv.key);
    if (this.activeKey === conv.key) {
      this.activeKey = null;
      this.pickActive();
    }
  }

  pickActive() {
    if (this.active) return;
    const saved = localStorage.getItem("lanchat.active");
    const savedConv = saved ? this.convs.get(this.fold(saved)) : null;
    const first = savedConv || this.channels[0] || this.dms[0] || null;
    if (first) this.setActive(first.key);
  }

  // -- connection lifecycle -------------------------------------------------------------------

  async onReady() {
    this.ready = true;
    this.everConnected = true;
    const conn = this.conn;
    if (this.away) conn.send("AWAY", [this.away]);
    // Direct conversations with recent activity, then every conversation's recent history.
    if (this.has("draft/chathistory")) {
      try {
        const now = isoTime(Date.now() + 60000);
        const items = await conn.request(
          "CHATHISTORY",
          ["TARGETS", `timestamp=${now}`, "timestamp=1970-01-01T00:00:00.000Z", "100"],
          { exclusive: true },
        );
        const lines = flatten(items).flatMap((item) => (item.isBatch ? item.items : [item]));
        for (const item of lines) {
          if (item.command !== "CHATHISTORY" || item.params[0] !== "TARGETS") continue;
          const name = item.params[1];
          if (!name || this.isChannel(name)) continue;
          const conv = this.conversation(name);
          conv.lastActivity = Math.max(conv.lastActivity, Date.parse(item.params[2]) || 0);
        }
      } catch (err) {
        /* history is optional */
      }
    }
    const dmNames = [];
    for (const conv of this.convs.values()) {
      if (conv.type === "dm") {
        dmNames.push(conv.name);
        conn.send("MARKREAD", [conv.name]);
      }
      if (conv.type === "channel" && !conv.joined) continue;
      this.catchUp(conv);
    }
    this.monitor(dmNames);
    this.pickActive();
    this.changed();
    // Channels left on another device while this one was away are not joined again: drop them.
    setTimeout(() => {
      if (this.conn !== conn || !this.ready) return;
      let dropped = false;
      for (const conv of [...this.convs.values()]) {
        if (conv.type === "channel" && !conv.joined) {
          this.convs.delete(conv.key);
          dropped = true;
          if (this.activeKey === conv.key) this.activeKey = null;
        }
      }
      if (dropped) {
        this.pickActive();
        this.changed();
      }
    }, 5000);
  }

  /** Why a message cannot be sent as it is (too long for the server), or null. */
  tooLong(text) {
    const value = this.conn?.available.get("draft/multiline");
    if (value === undefined || !this.has("draft/multiline")) return null;
    const limits = Object.fromEntries(value.split(",").map((kv) => kv.split("=")));
    const maxBytes = Number(limits["max-bytes"]) || Infinity;
    const maxLines = Number(limits["max-lines"]) || Infinity;
    const bytes = byteLength(text);
    const lines = text.split("\n").reduce((n, line) => n + splitBytes(line, LINE_BYTES).length, 0);
    if (bytes > maxBytes)
      return `This message is too long (${bytes} bytes; the server takes ${maxBytes}). Share it as a file instead.`;
    if (lines > maxLines)
      return `This message has too many lines (${lines}; the server takes ${maxLines}). Share it as a file instead.`;
    return null;
  }

  monitor(names) {
    if (!names.length || !this.conn.isupport.has("MONITOR")) return;
    this.conn.send("MONITOR", ["+", names.join(",")]);
  }

  /** Fetch what is missing: the latest page, or everything after the newest message held. */
  async catchUp(conv) {
    const newest = conv.newest;
    if (!newest || conv.historyState !== "loaded") {
      await this.loadLatest(conv);
      return;
    }
    if (!this.has("draft/chathistory")) return;
    try {
      const items = await this.conn.request(
        "CHATHISTORY",
        ["AFTER", conv.name, `timestamp=${newest.timeTag || isoTime(newest.time)}`, String(HISTORY_PAGE * 4)],
        { exclusive: true },
      );
      this.processHistory(conv, items);
    } catch {
      /* retried at the next connection */
    }
    this.changed();
  }

  async loadLatest(conv) {
    if (!this.has("draft/chathistory")) {
      conv.historyState = "loaded";
      conv.oldestReached = true;
      return;
    }
    if (conv.historyState === "loading") return;
    conv.historyState = "loading";
    conv.touch();
    this.changed();
    try {
      const items = await this.conn.request("CHATHISTORY", ["LATEST", conv.name, "*", String(HISTORY_PAGE)], {
        exclusive: true,
      });
      const count = this.processHistory(conv, items);
      if (count < HISTORY_PAGE) conv.oldestReached = true;
      conv.historyState = "loaded";
    } catch {
      conv.historyState = "error";
    }
    conv.touch();
    this.changed();
  }

  /** Older history, when the user scrolls to the top. */
  async loadOlder(conv) {
    if (conv.loadingOlder || conv.oldestReached || conv.historyState !== "loaded" || !this.ready) return;
    const cursor = conv.oldestCursor;
    if (!cursor) {
      conv.oldestReached = true;
      return;
    }
    conv.loadingOlder = true;
    conv.touch();
    this.changed();
    try {
      const ref = cursor.msgid ? `msgid=${cursor.msgid}` : `timestamp=${isoTime(cursor.time)}`;
      const items = await this.conn.request("CHATHISTORY", ["BEFORE", conv.name, ref, String(HISTORY_PAGE)], {
        exclusive: true,
      });
      const count = this.processHistory(conv, items);
      if (count < HISTORY_PAGE) conv.oldestReached = true;
    } catch {
      /* try again on the next scroll */
    }
    conv.loadingOlder = false;
    conv.touch();
    this.changed();
  }

  /** Load history between an older message (e.g. a search result) and what is already held. */
  async loadUntil(conv, time) {
    const first = conv.messages.find((m) => !m.pending);
    if (first && first.time <= time) return;
    const upper = conv.oldestCursor?.msgid
      ? `msgid=${conv.oldestCursor.msgid}`
      : `timestamp=${isoTime(Date.now() + 60000)}`;
    const items = await this.conn.request(
      "CHATHISTORY",
      ["BETWEEN", conv.name, upper, `timestamp=${isoTime(time - 1)}`, "1000"],
      { exclusive: true },
    );
    this.processHistory(conv, items);
    conv.touch();
    this.changed();
  }

  /** Process a chathistory response; returns how many events it held. */
  processHistory(conv, response) {
    let count = 0;
    let oldest = null;
    const visit = (item, batchConv) => {
      if (item.isBatch && item.type === "chathistory") {
        const target = item.params[0];
        const into = target ? this.conversation(target) : batchConv;
        for (const inner of item.items) visit(inner, into);
        return;
      }
      count += 1;
      const time = Date.parse(item.tags?.time ?? "") || 0;
      const msgid = item.tags?.msgid;
      if (time && (!oldest || time < oldest.time || (time === oldest.time && !oldest.msgid))) {
        oldest = { time, msgid };
      }
      this.handleStored(batchConv, item);
    };
    for (const item of flatten(response)) {
      if (item.command === "FAIL") {
        conv.oldestReached = true;
        continue;
      }
      visit(item, conv);
    }
    if (oldest && (!conv.oldestCursor || oldest.time <= conv.oldestCursor.time)) conv.oldestCursor = oldest;
    this.trim(conv);
    conv.touch();
    return count;
  }

  /**
   * Bound the memory of a conversation that is not open: keep its newest messages only, and
   * make scrolling up fetch the rest again (from the oldest message kept).
   */
  trim(conv) {
    const extra = conv.messages.length - this.keepMessages;
    if (extra <= 0 || conv.key === this.activeKey || conv.loadingOlder || conv.historyState === "loading") return;
    const dropped = conv.messages.splice(0, extra);
    for (const m of dropped) conv.byId.delete(m.id);
    for (const [id, reaction] of conv.reactionIds) {
      if (!conv.byId.has(reaction.target)) conv.reactionIds.delete(id);
    }
    // What was dropped must not count as already seen when it comes back with older history.
    conv.seen = new Set([...conv.byId.keys(), ...conv.reactionIds.keys()]);
    const first = conv.messages[0];
    const msgid = /^(local|pending)-/.test(first.id) ? undefined : first.id;
    conv.oldestCursor = { time: first.time, msgid };
    conv.oldestReached = false;
    conv.touch();
  }

  /** A message from history: no notification, no typing changes. */
  handleStored(conv, item) {
    if (!conv.firstSight(item.tags?.msgid)) return;
    if (item.isBatch && item.type === "draft/multiline") {
      const m = this.fromMultiline(item);
      if (m) this.insert(conv, m);
      return;
    }
    switch (item.command) {
      case "PRIVMSG":
      case "NOTICE": {
        const m = this.fromChat(item);
        if (m) this.insert(conv, m);
        break;
      }
      case "TAGMSG":
        this.applyReaction(conv, item);
        break;
      case "TOPIC":
        this.insert(conv, this.topicEvent(item));
        break;
      default:
        break;
    }
  }

  // -- building messages ----------------------------------------------------------------------

  baseMessage(item, text) {
    const src = parseSource(item.source);
    let command = item.command;
    if (text.startsWith("\x01")) {
      const inner = text.replace(/^\x01|\x01$/g, "");
      if (!inner.startsWith("ACTION")) return null;
      command = "ACTION";
      text = inner.slice(7);
    }
    return makeMessage({
      ...stamp(item),
      nick: src.nick,
      account: item.tags.account || null,
      command,
      text: stripFormatting(text),
      replyTo: item.tags["+draft/reply"] || null,
      mine: this.isMe(src.nick),
    });
  }

  fromChat(msg) {
    const m = this.baseMessage(msg, msg.params[1] ?? "");
    if (m && !m.mine) m.mention = this.isMention(m.text);
    return m;
  }

  fromMultiline(batch) {
    const parts = [];
    let command = "PRIVMSG";
    for (const line of batch.items) {
      if (line.isBatch) continue;
      command = line.command;
      const text = line.params[1] ?? "";
      if ("draft/multiline-concat" in line.tags && parts.length) parts[parts.length - 1] += text;
      else parts.push(text);
    }
    const fake = { command, source: batch.source, tags: batch.tags, params: [batch.params[0], parts.join("\n")] };
    return this.fromChat(fake);
  }

  topicEvent(msg) {
    const src = parseSource(msg.source);
    return makeMessage({
      ...stamp(msg),
      nick: src.nick,
      command: "TOPIC",
      text: msg.params[1] ?? "",
      mine: this.isMe(src.nick),
    });
  }

  /** Insert a message in time order; returns false when it was already there. */
  insert(conv, m) {
    if (conv.byId.has(m.id)) return false;
    conv.byId.set(m.id, m);
    const list = conv.messages;
    let i = list.length;
    while (i > 0 && (list[i - 1].time > m.time || (list[i - 1].pending && !m.pending))) i--;
    list.splice(i, 0, m);
    if (m.time > conv.lastActivity && COUNTED.has(m.command)) conv.lastActivity = m.time;
    const waiting = conv.pendingReactions.get(m.id);
    if (waiting) {
      conv.pendingReactions.delete(m.id);
      conv.pendingCount -= waiting.length;
      for (const reaction of waiting) this.applyReaction(conv, reaction);
    }
    conv.touch();
    return true;
  }

  remove(conv, id) {
    const m = conv.byId.get(id);
    if (!m) return null;
    conv.byId.delete(id);
    conv.messages = conv.messages.filter((x) => x !== m);
    conv.touch();
    return m;
  }

  /** A message sent from here that will not arrive: shown as failed (with the reason). */
  markFailed(conv, m, error) {
    if (conv.byId.get(m.id) !== m) return;
    m.failed = true;
    if (error) m.error = error;
    m.version += 1;
    conv.touch();
    this.changed();
  }

  /** Take ``nick``'s ``emoji`` off a message; false when it was not there. */
  dropReaction(m, emoji, nick) {
    const who = m.reactions.get(emoji);
    if (!who) return false;
    who.delete(this.fold(nick));
    if (!who.size) m.reactions.delete(emoji);
    return true;
  }

  applyReaction(conv, msg) {
    const target = msg.tags["+draft/reply"];
    const react = msg.tags["+draft/react"];
    const unreact = msg.tags["+draft/unreact"];
    if (!target || (!react && !unreact)) return;
    const m = conv.byId.get(target);
    if (!m) {
      const list = conv.pendingReactions.get(target) ?? [];
      list.push(msg);
      conv.pendingReactions.set(target, list);
      conv.pendingCount += 1;
      for (const [id, old] of conv.pendingReactions) {
        if (conv.pendingCount <= MAX_PENDING_REACTIONS) break;
        conv.pendingReactions.delete(id);
        conv.pendingCount -= old.length;
      }
      return;
    }
    const nick = parseSource(msg.source).nick;
    const emoji = react || unreact;
    if (react) {
      let who = m.reactions.get(emoji);
      if (!who) {
        who = new Map();
        m.reactions.set(emoji, who);
      }
      who.set(this.fold(nick), nick);
      if (msg.tags.msgid) conv.reactionIds.set(msg.tags.msgid, { target, emoji, nick });
    } else {
      this.dropReaction(m, emoji, nick);
    }
    m.version += 1;
    conv.touch();
  }

  // -- live traffic -------------------------------------------------------------------------

  onItem(item) {
    try {
      if (item.isBatch) this.onBatch(item);
      else this.onMessage(item);
    } catch (err) {
      console.error("lanchat: could not handle", item, err);
    }
    this.changed();
  }

  onBatch(batch) {
    switch (batch.type) {
      case "draft/multiline":
        this.onChat(batch, this.fromMultiline(batch));
        break;
      case "chathistory": {
        const target = batch.params[0];
        if (!target) return;
        const conv = this.conversation(target);
        this.processHistory(conv, [batch]);
        if (conv.historyState === "none" && this.ready) this.loadLatest(conv);
        break;
      }
      default:
        for (const item of batch.items) {
          if (item.isBatch) this.onBatch(item);
          else this.onMessage(item);
        }
    }
  }

  /**
   * The conversation a PRIVMSG/NOTICE/TAGMSG/REDACT belongs to (null for server notices).
   * A direct conversation is created only when asked (for messages, not typing or reactions).
   */
  convFor(msg, create = true) {
    let target = msg.params[0] ?? "";
    const statusmsg = this.conn.isupport.get("STATUSMSG") ?? "";
    while (target.length > 1 && statusmsg.includes(target[0]) && this.isChannel(target.slice(1)))
      target = target.slice(1);
    if (this.isChannel(target)) return this.conversation(target, false);
    const src = msg.source ?? "";
    if (!src.includes("!")) return null; // from the server
    const nick = parseSource(src).nick;
    return this.conversation(this.isMe(nick) ? target : nick, create);
  }

  onChat(msg, m) {
    if (!m) return;
    const conv = this.convFor({ params: msg.params, source: msg.source });
    if (!conv) {
      if (msg.command === "NOTICE" && !m.text.startsWith("You have")) this.toast(m.text, "info");
      return;
    }
    if (!conv.firstSight(m.id)) return;
    const label = msg.tags.label;
    if (label) {
      const pending = conv.byId.get("pending-" + label);
      if (pending) {
        this.remove(conv, pending.id);
        m.clientKey = pending.id; // the same element in the list: it keeps the focus
      }
    }
    // A new direct conversation: its history includes this message.
    if (conv.type === "dm") this.startDm(conv);
    this.insert(conv, m);
    this.trim(conv);
    conv.typing.delete(this.fold(m.nick));
    if (!m.mine && (conv.type === "dm" || m.mention)) this.emit("notify", { conv, message: m });
  }

  onMessage(msg) {
    const handler = HANDLERS[msg.command];
    if (handler) handler.call(this, msg);
    else if (/^[45]\d\d$/.test(msg.command) && !QUIET_NUMERICS.has(msg.command)) {
      this.toast(
        msg.params
          .slice(1)
          .filter((p) => p !== this.nick)
          .join(": "),
      );
    }
  }

  expireTyping() {
    const now = Date.now();
    let changed = false;
    for (const conv of this.convs.values()) {
      for (const [key, entry] of conv.typing) {
        if (entry.until <= now) {
          conv.typing.delete(key);
          changed = true;
          conv.touch();
        }
      }
    }
    if (changed) this.changed();
  }

  // -- sending --------------------------------------------------------------------------------

  /** Send a message (optimistically shown until the server echoes it). */
  sendText(conv, text, { replyTo = null, command = "PRIVMSG" } = {}) {
    if (!this.connected || !text) return false;
    const conn = this.conn;
    const label = conn.nextLabel();
    const tags = {};
    if (replyTo) tags["+draft/reply"] = replyTo;
    const pending = makeMessage({
      id: "pending-" + label,
      time: Date.now(),
      timeTag: "",
      nick: this.nick,
      account: this.account,
      command: command === "PRIVMSG" && text.startsWith("\x01ACTION ") ? "ACTION" : command,
      text: text.startsWith("\x01ACTION ") ? text.slice(8, -1) : text,
      replyTo,
      mine: true,
      pending: true,
    });
    if (conn.caps.has("echo-message") && conn.caps.has("labeled-response")) {
      this.insert(conv, pending);
      setTimeout(() => this.markFailed(conv, pending), PENDING_TIMEOUT_MS);
    }
    const lines = text.split(/\r?\n/);
    const long = byteLength(text) > LINE_BYTES;
    const multiline = conn.caps.has("draft/multiline") && (lines.length > 1 || long);
    if (multiline) {
      const ref = "ml" + label;
      conn.send("BATCH", ["+" + ref, "draft/multiline", conv.name], { ...tags, label });
      for (const line of lines) {
        const chunks = splitBytes(line, LINE_BYTES);
        chunks.forEach((chunk, i) => {
          const lineTags = { batch: ref };
          if (i > 0) lineTags["draft/multiline-concat"] = "";
          conn.send(command, [conv.name, chunk], lineTags);
        });
      }
      conn.send("BATCH", ["-" + ref]);
      conn.expectLabel(label).then(
        (items) => this.onSendResult(conv, pending, items),
        () => {},
      );
    } else {
      const chunks = lines.flatMap((line) => splitBytes(line, LINE_BYTES)).filter((c) => c);
      chunks.forEach((chunk, i) => {
        const last = i === chunks.length - 1;
        const lineTags = last ? { ...tags, label } : { ...tags };
        conn.send(command, [conv.name, chunk], lineTags);
      });
      if (conn.caps.has("labeled-response")) {
        conn.expectLabel(label).then(
          (items) => this.onSendResult(conv, pending, items),
          () => {},
        );
      }
    }
    conv.typing.delete(this.fold(this.nick));
    return true;
  }

  onSendResult(conv, pending, items) {
    const failure = items.find((i) => !i.isBatch && isFailure(i));
    if (failure && conv.byId.get(pending.id) === pending) {
      this.markFailed(conv, pending, failure.params[failure.params.length - 1]);
    }
  }

  retry(conv, m) {
    this.remove(conv, m.id);
    this.sendText(conv, m.command === "ACTION" ? `\x01ACTION ${m.text}\x01` : m.text, { replyTo: m.replyTo });
    this.changed();
  }

  discard(conv, m) {
    this.remove(conv, m.id);
    this.changed();
  }

  sendTyping(conv, status) {
    if (!this.connected || !this.has("message-tags")) return;
    const deny = this.conn.isupport.get("CLIENTTAGDENY") ?? "";
    if (deny.split(",").some((t) => t === "*" || t === "typing")) return;
    this.conn.send("TAGMSG", [conv.name], { "+typing": status });
  }

  toggleReaction(conv, m, emoji) {
    if (!this.connected || m.pending) return;
    const who = m.reactions.get(emoji);
    const mine = who && who.has(this.fold(this.nick));
    const tags = { "+draft/reply": m.id };
    tags[mine ? "+draft/unreact" : "+draft/react"] = emoji;
    this.conn.send("TAGMSG", [conv.name], tags);
  }

  canDelete(conv, m) {
    if (m.pending || !this.has("draft/message-redaction") || !COUNTED.has(m.command)) return false;
    if (m.mine) return true;
    if (conv.type !== "channel") return false;
    const me = conv.members.get(this.fold(this.nick));
    return !!me && /[~&@%]/.test(me.prefix);
  }

  async deleteMessage(conv, m) {
    try {
      const items = await this.conn.request("REDACT", [conv.name, m.id]);
      const failure = items.find(isFailure);
      if (failure) this.toast(failure.params[failure.params.length - 1]);
    } catch (err) {
      this.toast(`Could not delete the message: ${err.message}`);
    }
  }

  join(name) {
    if (!this.connected) return;
    const channel = this.isChannel(name) ? name : "#" + name;
    const existing = this.convs.get(this.fold(channel));
    if (existing && existing.joined) {
      this.setActive(existing.key);
      return;
    }
    this.wantActive = this.fold(channel);
    this.conn.send("JOIN", [channel]);
  }

  part(conv) {
    if (conv.type === "dm") {
      this.closeDm(conv);
      return;
    }
    this.conn.send("PART", [conv.name]);
  }

  setTopic(conv, topic) {
    this.conn.send("TOPIC", [conv.name, topic]);
  }

  setAway(message) {
    this.away = message || null;
    if (!this.connected) return;
    if (message) this.conn.send("AWAY", [message]);
    else this.conn.send("AWAY");
    this.user(this.nick).away = this.away;
    this.changed();
  }

  async listChannels() {
    const items = await this.conn.request("LIST", [], { exclusive: true });
    const out = [];
    for (const item of flatten(items)) {
      if (item.command === "322") {
        out.push({
          name: item.params[1],
          users: Number(item.params[2]) || 0,
          topic: stripFormatting(item.params[3] ?? ""),
        });
      }
    }
    out.sort((a, b) => b.users - a.users || a.name.localeCompare(b.name));
    return out;
  }

  /** Server-side search of a conversation (soju.im/search). */
  async search(conv, text) {
    const attrs = `in=${escapeTag(conv.name)};text=${escapeTag(text)};limit=50`;
    const items = await this.conn.request("SEARCH", [attrs], { exclusive: true });
    const out = [];
    const visit = (item) => {
      if (item.isBatch) {
        if (item.type === "draft/multiline") {
          const m = this.fromMultiline(item);
          if (m) out.push(m);
          return;
        }
        item.items.forEach(visit);
        return;
      }
      if (item.command === "FAIL") throw new Error(item.params[item.params.length - 1]);
      if (item.command === "PRIVMSG" || item.command === "NOTICE") {
        const m = this.fromChat(item);
        if (m) out.push(m);
      }
    };
    items.forEach(visit);
    out.sort((a, b) => b.time - a.time);
    return out;
  }

  async refreshWho(conv) {
    if (!this.conn.isupport.has("WHOX")) return;
    try {
      const items = await this.conn.request("WHO", [conv.name, "%tnfa,7"], { exclusive: true });
      for (const item of flatten(items)) {
        if (item.command !== "354" || item.params[1] !== "7") continue;
        const [, , nick, flags] = item.params;
        const user = this.user(nick);
        user.online = true;
        user.away = flags.startsWith("G") ? user.away || "Away" : null;
      }
      conv.touch();
      this.changed();
    } catch {
      /* presence is best effort */
    }
  }
}

/** Unwrap labeled-response batches: the list of messages and (typed) batches of a response. */
export function flatten(items) {
  const out = [];
  for (const item of items) {
    if (item.isBatch && item.type === "labeled-response") out.push(...flatten(item.items));
    else out.push(item);
  }
  return out;
}

/** A message as the views show it: ``fields`` over the defaults of a plain received one. */
function makeMessage(fields) {
  return {
    account: null,
    replyTo: null,
    reactions: new Map(),
    mine: false,
    mention: false,
    pending: false,
    failed: false,
    version: 0,
    ...fields,
  };
}

/** The msgid (or a local id), time and raw time tag of a received line. */
function stamp(item) {
  const timeTag = item.tags.time || "";
  return { id: item.tags.msgid || `local-${++localCounter}`, time: Date.parse(timeTag) || Date.now(), timeTag };
}

/** A reply that says the command failed: FAIL, or an error numeric. */
function isFailure(item) {
  return item.command === "FAIL" || /^[45]\d\d$/.test(item.command);
}

function loadJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "") ?? fallback;
  } catch {
    return fallback;
  }
}

function saveJson(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* private mode */
  }
}
