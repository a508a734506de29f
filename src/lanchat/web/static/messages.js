// The message list of a conversation: day separators, grouping, replies, reactions, files.

import {
  avatar,
  dayKey,
  formatDay,
  formatFull,
  formatTime,
  h,
  icon,
  nickClass,
  richText,
  splitLinks,
  uploadedFile,
} from "./dom.js";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];
const GROUP_MS = 5 * 60 * 1000;

/** Items for reconcile(): separators and messages of a conversation. */
export function messageItems(ui, conv) {
  const state = ui.state;
  const items = [];
  let prev = null;
  let dividerDone = false;
  const divider = ui.dividerFor(conv);
  const canDeleteAny =
    conv.type === "channel" && state.canDelete(conv, { mine: false, pending: false, command: "PRIVMSG" });
  for (const m of conv.messages) {
    if (!prev || dayKey(prev.time) !== dayKey(m.time)) {
      const key = "day-" + dayKey(m.time);
      items.push({ key, sig: formatDay(m.time), build: () => daySeparator(m.time) });
      prev = null;
    }
    if (!dividerDone && divider !== null && m.time > divider && !m.mine && m.command !== "TOPIC") {
      dividerDone = true;
      items.push({
        key: "new-divider",
        sig: "new",
        build: () => h("div.new-sep", { role: "separator" }, h("span", {}, "New messages")),
      });
      prev = null;
    }
    const grouped =
      !!prev &&
      prev.command !== "TOPIC" &&
      m.command !== "TOPIC" &&
      m.command !== "ACTION" &&
      state.fold(prev.nick) === state.fold(m.nick) &&
      m.time - prev.time < GROUP_MS &&
      !m.replyTo;
    const parent = m.replyTo ? conv.byId.get(m.replyTo) : null;
    const deletable = m.mine ? state.canDelete(conv, m) : canDeleteAny && state.canDelete(conv, m);
    const replyState = parent ? parent.version : m.replyTo ? "missing" : "";
    const sig = [m.id, m.version, m.pending, m.failed, grouped, deletable, replyState, state.connected].join("|");
    // A sent message keeps its element (and focus) when the server's echo replaces it.
    const key = "m-" + (m.clientKey ?? m.id);
    items.push({ key, sig, build: () => buildMessage(ui, conv, m, { grouped, parent, deletable }) });
    prev = m;
  }
  return items;
}

function daySeparator(ms) {
  return h("div.day-sep", { role: "separator", aria: { label: formatDay(ms) } }, h("span", {}, formatDay(ms)));
}

function buildMessage(ui, conv, m, { grouped, parent, deletable }) {
  if (m.command === "TOPIC") {
    return h(
      "div.msg.msg-system",
      { data: { msgid: m.id }, tabindex: "-1" },
      icon("edit"),
      h(
        "span",
        {},
        h("strong", {}, m.nick),
        m.text ? " changed the topic to " : " cleared the topic",
        m.text ? h("q", {}, m.text) : null,
      ),
      h("time.msg-time", { datetime: new Date(m.time).toISOString(), title: formatFull(m.time) }, formatTime(m.time)),
    );
  }
  const classes = ["msg"];
  if (grouped) classes.push("grouped");
  if (m.mine) classes.push("mine");
  if (m.mention) classes.push("mention");
  if (m.pending) classes.push("pending");
  if (m.failed) classes.push("failed");
  if (m.command === "NOTICE") classes.push("notice");
  if (m.command === "ACTION") classes.push("action");

  const time = h(
    "time.msg-time",
    { datetime: new Date(m.time).toISOString(), title: formatFull(m.time) },
    formatTime(m.time),
  );
  const body = h("div.msg-body");
  if (!grouped) {
    body.append(
      h(
        "div.msg-head",
        {},
        h(
          "button.msg-nick." + nickClass(m.nick),
          { type: "button", tabindex: "-1", onclick: () => ui.openUser(m.nick) },
          m.nick,
        ),
        time,
      ),
    );
  }
  if (m.replyTo) body.append(replyQuote(ui, conv, m.replyTo, parent));
  body.append(messageContent(ui, m));
  if (m.reactions.size) body.append(reactionRow(ui, conv, m));
  if (m.failed) {
    body.append(
      h(
        "div.msg-failed",
        { role: "alert" },
        icon("alert"),
        h("span", {}, m.error ? `Not sent: ${m.error}` : "Not sent."),
        h("button.link", { type: "button", onclick: () => ui.state.retry(conv, m) }, "Try again"),
        h("button.link", { type: "button", onclick: () => ui.state.discard(conv, m) }, "Discard"),
      ),
    );
  }

  const label = `${m.nick}, ${formatTime(m.time)}: ${m.command === "ACTION" ? `${m.nick} ${m.text}` : m.text}`;
  const el = h(
    "div",
    {
      class: classes.join(" "),
      data: { msgid: m.id, nick: m.nick },
      tabindex: "-1",
      role: "article",
      aria: { label: label.length > 300 ? label.slice(0, 300) + "…" : label },
    },
    grouped
      ? h(
          "time.msg-gutter-time",
          { datetime: new Date(m.time).toISOString(), title: formatFull(m.time) },
          formatTime(m.time),
        )
      : avatar(m.nick),
    body,
  );
  if (!m.pending) el.append(actions(ui, conv, m, deletable));
  return el;
}

function messageContent(ui, m) {
  // Links to shared files show as a preview or a download card, not as a long URL.
  const parts = splitLinks(m.text);
  const files = parts.filter((p) => p.url && uploadedFile(p.url)).map((p) => uploadedFile(p.url));
  const text = files.length
    ? parts
        .filter((p) => !(p.url && uploadedFile(p.url)))
        .map((p) => p.text ?? p.url)
        .join("")
        .trim()
    : m.text;
  const content = h("div.msg-content");
  if (text || !files.length) {
    const textEl = h("div.msg-text");
    if (m.command === "ACTION") textEl.append(h("span.action-nick", {}, m.nick + " "));
    textEl.append(richText(text));
    content.append(textEl);
  }
  for (const file of files) content.append(fileCard(ui, file));
  return content;
}

function fileCard(ui, file) {
  if (file.image) {
    const img = h("img", { src: file.path, alt: file.name, loading: "lazy", decoding: "async" });
    img.addEventListener("load", () => ui.onMediaLoaded());
    img.addEventListener("error", () => {
      img.replaceWith(h("span.preview-broken", {}, icon("file"), file.name));
    });
    return h(
      "a.image-preview",
      {
        href: file.path,
        target: "_blank",
        rel: "noopener",
        title: file.name,
        aria: { label: `Image ${file.name} (opens in a new tab)` },
      },
      img,
    );
  }
  return h(
    "a.file-card",
    { href: file.path, download: file.name, aria: { label: `Download ${file.name}` } },
    h("span.file-icon", {}, icon("file")),
    h("span.file-name", {}, file.name),
    h("span.file-action", {}, icon("download")),
  );
}

function replyQuote(ui, conv, id, parent) {
  const text = parent ? parent.text.replace(/\s+/g, " ").slice(0, 140) : "an earlier message";
  return h(
    "button.msg-quote",
    {
      type: "button",
      tabindex: "-1",
      aria: { label: parent ? `Reply to ${parent.nick}: ${text}` : "Reply to an earlier message" },
      onclick: () => ui.jumpTo(conv, id),
    },
    icon("reply"),
    parent ? h("span.quote-nick." + nickClass(parent.nick), {}, parent.nick) : null,
    h("span.quote-text", {}, text),
  );
}

function reactionRow(ui, conv, m) {
  const me = ui.state.fold(ui.state.nick);
  const row = h("div.reactions", { role: "group", aria: { label: "Reactions" } });
  for (const [emoji, who] of m.reactions) {
    const names = [...who.values()];
    const mine = who.has(me);
    row.append(
      h(
        "button.reaction",
        {
          type: "button",
          aria: { pressed: String(mine), label: `${emoji} ${names.length}: ${names.join(", ")}` },
          title: names.join(", "),
          onclick: () => ui.state.toggleReaction(conv, m, emoji),
        },
        h("span.reaction-emoji", {}, emoji),
        h("span.reaction-count", {}, String(names.length)),
      ),
    );
  }
  return row;
}

function actions(ui, conv, m, deletable) {
  const bar = h("div.msg-actions", { role: "toolbar", aria: { label: "Message actions" } });
  bar.append(
    h(
      "button.icon-button",
      {
        type: "button",
        title: "React",
        aria: { label: "React", haspopup: "true" },
        onclick: (e) => ui.openReactionPicker(conv, m, e.currentTarget),
      },
      icon("smile"),
    ),
    h(
      "button.icon-button",
      { type: "button", title: "Reply", aria: { label: "Reply" }, onclick: () => ui.composer.startReply(conv, m) },
      icon("reply"),
    ),
  );
  if (deletable) {
    bar.append(
      h(
        "button.icon-button.danger",
        {
          type: "button",
          title: "Delete",
          aria: { label: "Delete message" },
          onclick: () => ui.confirmDelete(conv, m),
        },
        icon("trash"),
      ),
    );
  }
  return bar;
}

/** The emoji picker popover for a message. */
export function reactionPicker(onPick, onClose) {
  const pop = h("div.popover.reaction-picker", { role: "dialog", aria: { label: "Pick a reaction" } });
  for (const emoji of QUICK_REACTIONS) {
    pop.append(
      h(
        "button.emoji",
        { type: "button", aria: { label: `React with ${emoji}` }, onclick: () => onPick(emoji) },
        emoji,
      ),
    );
  }
  pop.addEventListener("keydown", (event) => {
    const buttons = [...pop.querySelectorAll("button")];
    const i = buttons.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onClose();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const next = (i + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length;
      buttons[next].focus();
    }
  });
  return pop;
}
