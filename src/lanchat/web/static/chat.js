// The chat screen: sidebar (channels, DMs, unread counts), header (topic, actions), message
// list, member list, typing line, composer; phone layout with a collapsible sidebar.

import { Composer } from "./composer.js";
import { adminPanel, channelBrowser, confirmDialog, newDmDialog, searchDialog } from "./dialogs.js";
import { avatar, h, icon, iconButton, reconcile } from "./dom.js";
import { logo } from "./auth.js";
import { messageItems, reactionPicker } from "./messages.js";
import { Notifier } from "./notify.js";
import { presenceOf, renderMembers, renderSidebar } from "./panels.js";

const NARROW = window.matchMedia("(max-width: 760px)");
const WIDE = window.matchMedia("(min-width: 1100px)");

export class ChatUI {
  constructor(root, state, info, hooks) {
    this.root = root;
    this.state = state;
    this.info = info;
    this.hooks = hooks;
    this.renderQueued = false;
    this.shownKey = null;
    this.dividers = new Map();
    this.atBottom = true;
    this.membersOpen = WIDE.matches;
    this.connection = { status: "connecting", retryAt: 0 };
    this.focusedKey = null;
    this.popover = null;
    this.notifier = new Notifier(this);
    this.composer = new Composer(this);
    this.build();
    state.addEventListener("change", () => this.schedule());
    state.addEventListener("toast", (e) => this.toast(e.detail.text, e.detail.kind));
    state.addEventListener("notify", (e) => this.notifier.notify(e.detail.conv, e.detail.message));
    state.addEventListener("invite", (e) =>
      this.toast(`${e.detail.nick} invited you to ${e.detail.channel}.`, "info", {
        label: "Join",
        run: () => state.join(e.detail.channel),
      }),
    );
    // Listeners outside this.root: destroy() removes them, so that nothing keeps this UI alive.
    this.onWake = () => this.schedule();
    document.addEventListener("visibilitychange", this.onWake);
    window.addEventListener("focus", this.onWake);
    NARROW.addEventListener("change", this.onWake);
    this.onKey = (e) => this.onGlobalKey(e);
    document.addEventListener("keydown", this.onKey);
    this.countdown = setInterval(() => {
      if (this.connection.status === "waiting") this.renderBanner();
    }, 1000);
    this.schedule();
  }

  destroy() {
    document.removeEventListener("visibilitychange", this.onWake);
    window.removeEventListener("focus", this.onWake);
    NARROW.removeEventListener("change", this.onWake);
    document.removeEventListener("keydown", this.onKey);
    clearInterval(this.countdown);
    clearInterval(this.state.typingTimer);
    this.closePopover();
    document.title = "lanchat";
    for (const dialog of document.querySelectorAll("dialog")) dialog.remove();
  }

  // -- layout ---------------------------------------------------------------------------------

  build() {
    const state = this.state;
    this.channelList = h("ul.conv-list", { aria: { labelledby: "channels-title" } });
    this.dmList = h("ul.conv-list", { aria: { labelledby: "dms-title" } });
    this.meBox = h("div.me");
    this.notifyButton = h(
      "button.icon-button",
      { type: "button", onclick: () => this.notifier.toggle() },
      icon("bell"),
    );
    this.awayButton = h(
      "button.icon-button",
      { type: "button", onclick: () => state.setAway(state.away ? null : "Away") },
      icon("moon"),
    );
    const footButtons = [this.awayButton, this.notifyButton];
    if (state.admin)
      footButtons.push(iconButton("shield", "Administration", () => adminPanel(this), { id: "admin-button" }));
    footButtons.push(iconButton("logout", "Log out", () => this.hooks.logout(), { id: "logout-button" }));

    this.sidebar = h(
      "nav.sidebar",
      { id: "sidebar", aria: { label: "Conversations" } },
      h(
        "div.sidebar-head",
        {},
        logo(),
        h(
          "div.network",
          {},
          h("span.network-name", {}, this.info.network || "lanchat"),
          h("span.network-server", {}, this.info.server || ""),
        ),
        iconButton("x", "Close the sidebar", () => this.setNav(false), { class: "nav-close" }),
      ),
      h(
        "div.sidebar-scroll",
        {},
        h(
          "section.sidebar-section",
          {},
          h(
            "div.section-head",
            {},
            h("h2", { id: "channels-title" }, "Channels"),
            iconButton("compass", "Browse channels", () => channelBrowser(this), { id: "browse-button" }),
          ),
          this.channelList,
        ),
        h(
          "section.sidebar-section",
          {},
          h(
            "div.section-head",
            {},
            h("h2", { id: "dms-title" }, "Direct messages"),
            iconButton("plus", "New direct message", () => newDmDialog(this), { id: "new-dm-button" }),
          ),
          this.dmList,
        ),
      ),
      h("div.sidebar-foot", {}, this.meBox, h("div.foot-actions", {}, footButtons)),
    );

    this.title = h("h1.chat-title");
    this.subtitle = h("p.chat-topic");
    this.headActions = h("div.head-actions");
    this.banner = h("div.banner", { role: "status", hidden: true });
    this.historyStatus = h("div.history-status", { role: "status" });
    this.list = h("div.message-list", { onkeydown: (e) => this.onListKey(e), onfocusin: (e) => this.onListFocus(e) });
    this.emptyState = h("div.empty", { hidden: true });
    this.scroller = h(
      "div.scroller",
      {
        role: "log",
        tabindex: "0",
        aria: { label: "Messages", live: "polite", relevant: "additions" },
        onscroll: () => this.onScroll(),
      },
      this.historyStatus,
      this.emptyState,
      this.list,
    );
    this.jumpButton = h(
      "button.jump-bottom",
      { type: "button", hidden: true, onclick: () => this.scrollToBottom(true) },
      icon("down"),
      "Latest messages",
    );
    this.typingLine = h("div.typing", { aria: { live: "polite" } });
    this.memberPanel = h("aside.members", { id: "members", aria: { label: "Members" } });
    this.dropOverlay = h(
      "div.drop-overlay",
      { hidden: true },
      icon("paperclip"),
      h("span", {}, "Drop files to share them"),
    );

    this.main = h(
      "main.chat",
      { id: "chat" },
      h(
        "header.chat-head",
        {},
        iconButton("menu", "Open the sidebar", () => this.setNav(true), {
          class: "nav-open",
          id: "nav-open",
          aria: { controls: "sidebar", expanded: "false" },
        }),
        h("div.chat-heading", {}, this.title, this.subtitle),
        this.headActions,
      ),
      this.banner,
      h(
        "div.chat-body",
        {},
        h(
          "section.timeline",
          { aria: { label: "Conversation" } },
          this.scroller,
          this.jumpButton,
          this.typingLine,
          this.composer.el,
          this.dropOverlay,
        ),
        this.memberPanel,
      ),
    );
    this.backdrop = h("div.backdrop", {
      onclick: () => {
        this.setNav(false);
        this.setMembers(false, true);
      },
    });
    // A manual popover: in the top layer, so toasts show above open dialogs too.
    this.toasts = h("div.toasts", { role: "status", aria: { live: "polite" }, popover: "manual" });
    this.layout = h("div.layout", { id: "layout" }, this.sidebar, this.main, this.backdrop);
    this.root.replaceChildren(this.layout, this.toasts);
    this.setupDrop();
  }

  setNav(open) {
    this.layout.classList.toggle("nav-is-open", open);
    document.getElementById("nav-open")?.setAttribute("aria-expanded", String(open));
    if (open)
      this.sidebar.querySelector("[aria-current='page']")?.focus() || this.sidebar.querySelector("button")?.focus();
  }

  setMembers(open, fromBackdrop = false) {
    this.membersOpen = open;
    if (!open && !fromBackdrop) this.headActions.querySelector("#members-button")?.focus();
    this.schedule();
  }

  setupDrop() {
    let depth = 0;
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    this.main.addEventListener("dragenter", (e) => {
      if (!hasFiles(e) || !this.state.active) return;
      depth += 1;
      this.dropOverlay.hidden = false;
    });
    this.main.addEventListener("dragleave", (e) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) this.dropOverlay.hidden = true;
    });
    this.main.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    this.main.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.dropOverlay.hidden = true;
      this.composer.uploadFiles([...e.dataTransfer.files]);
    });
  }

  // -- rendering -----------------------------------------------------------------------------

  schedule() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    const run = () => {
      if (!this.renderQueued) return;
      this.renderQueued = false;
      this.render();
    };
    if (document.visibilityState === "visible") requestAnimationFrame(run);
    setTimeout(run, 100);
  }

  render() {
    const state = this.state;
    const conv = state.active;
    if (conv?.key !== this.shownKey) this.switchTo(conv);
    this.renderSidebar();
    this.renderHeader(conv);
    this.renderMessages(conv);
    if (this.focusAfterRender) {
      this.focusAfterRender = false;
      const focused = document.activeElement;
      if (!document.querySelector("dialog[open]") && (!focused || focused === document.body || !focused.isConnected))
        this.composer.focus();
    }
    this.renderMembers(conv);
    this.renderTyping(conv);
    this.renderBanner();
    this.notifier.updateTitle();
    this.maybeMarkRead();
  }

  switchTo(conv) {
    const prev = this.shownKey ? this.state.convs.get(this.shownKey) : null;
    this.composer.setConversation(prev, conv);
    this.shownKey = conv?.key ?? null;
    this.focusedKey = null;
    this.closePopover();
    this.list.keyedCache = null;
    this.list.replaceChildren();
    this.atBottom = true;
    this.pendingScroll = "open";
    this.focusAfterRender = !!conv && !prev && !NARROW.matches;
    if (NARROW.matches) this.setNav(false);
    if (conv) {
      // The "New messages" line sits at the read marker as it was when the conversation opened.
      const counts = this.state.unread(conv);
      this.dividers.set(conv.key, counts.unread ? (conv.marker ?? 0) : null);
    }
  }

  dividerFor(conv) {
    return this.dividers.get(conv.key) ?? null;
  }

  renderSidebar() {
    renderSidebar(this);
  }

  renderHeader(conv) {
    const state = this.state;
    const sig = conv
      ? [
          conv.key,
          conv.name,
          conv.topic,
          conv.members.size,
          presenceOf(state.users.get(conv.key)),
          this.membersOpen,
          state.users.get(conv.key)?.away,
        ].join("|")
      : "none";
    if (this.title.dataset.sig === sig) return;
    this.title.dataset.sig = sig;
    if (!conv) {
      this.title.replaceChildren("lanchat");
      this.subtitle.replaceChildren();
      this.headActions.replaceChildren(iconButton("compass", "Browse channels", () => channelBrowser(this)));
      return;
    }
    if (conv.type === "channel") {
      this.title.replaceChildren(h("span.title-hash", { aria: { hidden: "true" } }, "#"), conv.name.replace(/^#/, ""));
      this.title.setAttribute("aria-label", conv.name);
      const topic = conv.topic ? conv.topic : "No topic";
      this.subtitle.replaceChildren(
        h(
          "button.topic-button",
          {
            type: "button",
            title: conv.topic ? `${conv.topic} (click to change)` : "Set a topic",
            aria: { label: conv.topic ? `Topic: ${conv.topic}. Change the topic` : "Set a topic" },
            onclick: () => this.editTopic(conv),
          },
          topic,
        ),
      );
      this.subtitle.classList.toggle("muted", !conv.topic);
    } else {
      const user = state.users.get(conv.key);
      const presence = presenceOf(user);
      this.title.replaceChildren(
        h("span.conv-avatar", {}, avatar(conv.name, "small"), h(`span.presence.${presence || "unknown"}`)),
        conv.name,
      );
      this.title.setAttribute("aria-label", `Direct messages with ${conv.name}`);
      this.subtitle.replaceChildren(
        presence === "away"
          ? `Away${user.away && user.away !== "Away" ? `: ${user.away}` : ""}`
          : presence === "online"
            ? "Online"
            : presence === "offline"
              ? "Offline"
              : "Direct messages",
      );
      this.subtitle.classList.add("muted");
    }
    const actions = [iconButton("search", `Search ${conv.name}`, () => this.openSearch(), { id: "search-button" })];
    if (conv.type === "channel") {
      actions.push(
        h(
          "button.icon-button.with-count",
          {
            type: "button",
            id: "members-button",
            title: "Members",
            aria: { label: `Members (${conv.members.size})`, pressed: String(this.membersOpen), controls: "members" },
            onclick: () => this.setMembers(!this.membersOpen),
          },
          icon("users"),
          h("span.count-label", {}, String(conv.members.size)),
        ),
      );
      actions.push(iconButton("logout", `Leave ${conv.name}`, () => this.confirmLeave(conv), { id: "leave-button" }));
    } else {
      actions.push(iconButton("x", "Close this conversation", () => state.closeDm(conv), { id: "close-dm-button" }));
    }
    this.headActions.replaceChildren(...actions);
  }

  renderMessages(conv) {
    const scroller = this.scroller;
    if (!conv) {
      this.emptyState.hidden = false;
      this.emptyState.replaceChildren(
        h("div.empty-art", {}, icon("chat")),
        h("h2", {}, "No conversation open"),
        h("p", {}, "Join a channel or start a direct message."),
        h("button.primary", { type: "button", onclick: () => channelBrowser(this) }, "Browse channels"),
      );
      this.historyStatus.replaceChildren();
      reconcile(this.list, []);
      this.composer.el.hidden = true;
      return;
    }
    this.composer.el.hidden = false;
    const sig = `${conv.key}|${conv.version}|${this.state.connected}|${this.state.nick}`;
    if (this.list.dataset.sig === sig) return;
    this.list.dataset.sig = sig;

    // Keep the view where it was: at the bottom, or on the same message when history grows above.
    const wasAtBottom = this.atBottom;
    let anchor = null;
    let anchorOffset = 0;
    if (!wasAtBottom) {
      const top = scroller.scrollTop;
      for (const el of this.list.children) {
        if (el.offsetTop + el.offsetHeight > top) {
          anchor = el;
          anchorOffset = el.offsetTop - top;
          break;
        }
      }
    }

    if (conv.historyState === "loading" && !conv.messages.length) {
      this.historyStatus.replaceChildren(h("span.spinner", { aria: { hidden: "true" } }), "Loading messages…");
    } else if (conv.loadingOlder) {
      this.historyStatus.replaceChildren(h("span.spinner", { aria: { hidden: "true" } }), "Loading older messages…");
    } else if (conv.oldestReached && conv.historyState === "loaded") {
      this.historyStatus.replaceChildren(
        h(
          "div.history-start",
          {},
          conv.type === "channel" ? h("span.start-icon", {}, icon("hash")) : avatar(conv.name, "large"),
          h(
            "strong",
            {},
            conv.type === "channel"
              ? `This is the beginning of ${conv.name}`
              : `This is the beginning of your conversation with ${conv.name}`,
          ),
          conv.type === "channel" && conv.topic ? h("span", {}, conv.topic) : null,
        ),
      );
    } else if (conv.historyState === "error") {
      this.historyStatus.replaceChildren(
        "Could not load the history. ",
        h("button.link", { type: "button", onclick: () => this.state.loadLatest(conv) }, "Try again"),
      );
    } else {
      this.historyStatus.replaceChildren();
    }
    this.emptyState.hidden = true;

    reconcile(this.list, messageItems(this, conv));
    this.updateRoving();

    if (this.pendingScroll === "open") {
      this.pendingScroll = null;
      const divider = this.list.querySelector(".new-sep");
      if (divider && divider.offsetTop > scroller.clientHeight / 2) {
        scroller.scrollTop = divider.offsetTop - 80;
        this.atBottom = this.isAtBottom();
      } else {
        this.scrollToBottom();
      }
    } else if (wasAtBottom) {
      this.scrollToBottom();
    } else if (anchor && anchor.isConnected) {
      scroller.scrollTop = anchor.offsetTop - anchorOffset;
    } else if (anchor) {
      // The anchor was rebuilt: find the element that replaced it.
      const key = anchor.dataset.msgid;
      const again = key ? this.list.querySelector(`[data-msgid="${CSS.escape(key)}"]`) : null;
      if (again) scroller.scrollTop = again.offsetTop - anchorOffset;
    }
    this.jumpButton.hidden = this.atBottom;
    // Not enough to fill the view: fetch older messages right away.
    if (conv.historyState === "loaded" && !conv.oldestReached && scroller.scrollHeight <= scroller.clientHeight + 40) {
      this.state.loadOlder(conv);
    }
  }

  renderMembers(conv) {
    renderMembers(this, conv);
  }

  renderTyping(conv) {
    const names = conv ? [...conv.typing.values()].map((t) => t.nick) : [];
    const text =
      names.length === 0
        ? ""
        : names.length === 1
          ? `${names[0]} is typing…`
          : names.length === 2
            ? `${names[0]} and ${names[1]} are typing…`
            : "Several people are typing…";
    if (this.typingLine.textContent !== text) {
      this.typingLine.replaceChildren(
        text ? h("span.typing-dots", { aria: { hidden: "true" } }, h("i"), h("i"), h("i")) : "",
        text,
      );
    }
  }

  setConnection(status, retryAt = 0) {
    this.connection = { status, retryAt };
    this.layout.dataset.connection = status; // "connecting", "waiting" or "connected"
    this.renderBanner();
  }

  renderBanner() {
    const { status, retryAt } = this.connection;
    if (status === "connected" && this.state.connected) {
      this.banner.hidden = true;
      return;
    }
    this.banner.hidden = false;
    if (status === "waiting") {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      this.banner.replaceChildren(
        icon("alert"),
        h("span", {}, `Connection lost. Reconnecting${seconds ? ` in ${seconds} s` : ""}…`),
        h("button.link", { type: "button", onclick: () => this.hooks.reconnectNow() }, "Reconnect now"),
      );
      this.banner.className = "banner warn";
    } else {
      this.banner.replaceChildren(
        h("span.spinner", { aria: { hidden: "true" } }),
        h("span", {}, this.state.everConnected ? "Reconnecting…" : "Connecting…"),
      );
      this.banner.className = "banner";
    }
  }

  // -- scrolling and reading --------------------------------------------------------------------

  isAtBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  onScroll() {
    this.atBottom = this.isAtBottom();
    this.jumpButton.hidden = this.atBottom;
    const conv = this.state.active;
    if (!conv) return;
    if (this.scroller.scrollTop < 300) this.state.loadOlder(conv);
    if (this.atBottom) this.maybeMarkRead();
  }

  scrollToBottom(focus = false) {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.atBottom = true;
    this.jumpButton.hidden = true;
    if (focus) this.composer.focus();
    this.maybeMarkRead();
  }

  onMediaLoaded() {
    if (this.atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  maybeMarkRead() {
    const conv = this.state.active;
    if (!conv || document.visibilityState !== "visible" || !this.atBottom || conv.historyState === "loading") return;
    this.state.markRead(conv);
  }

  /** Scroll to a message (loading history up to it when needed) and highlight it. */
  async jumpTo(conv, id, time = null) {
    if (this.state.active !== conv) this.open(conv);
    let el = this.list.querySelector(`[data-msgid="${CSS.escape(id)}"]`);
    if (!el && time !== null) {
      try {
        await this.state.loadUntil(conv, time);
      } catch (err) {
        this.toast(`Could not load that message: ${err.message}`);
        return;
      }
      this.render();
      el = this.list.querySelector(`[data-msgid="${CSS.escape(id)}"]`);
    }
    if (!el) {
      this.toast("That message is not available any more.", "info");
      return;
    }
    el.scrollIntoView({ block: "center" });
    this.atBottom = this.isAtBottom();
    el.classList.remove("flash");
    void el.offsetWidth;
    el.classList.add("flash");
    this.focusMessage(el);
  }

  // -- keyboard ----------------------------------------------------------------------------------

  messageEls() {
    return [...this.list.querySelectorAll(".msg")];
  }

  updateRoving() {
    const els = this.messageEls();
    let current = this.focusedKey ? els.find((el) => el.dataset.msgid === this.focusedKey) : null;
    if (!current) current = els[els.length - 1];
    for (const el of els) el.tabIndex = el === current ? 0 : -1;
  }

  focusMessage(el) {
    if (!el) return;
    this.focusedKey = el.dataset.msgid;
    for (const other of this.messageEls()) other.tabIndex = other === el ? 0 : -1;
    el.focus({ preventScroll: false });
  }

  focusLastMessage() {
    const els = this.messageEls();
    if (!els.length) return false;
    this.focusMessage(els[els.length - 1]);
    return true;
  }

  onListFocus(event) {
    const msg = event.target.closest?.(".msg");
    if (msg) this.focusedKey = msg.dataset.msgid;
  }

  onListKey(event) {
    const msg = event.target.closest?.(".msg");
    if (!msg || event.target !== msg) return;
    const els = this.messageEls();
    const i = els.indexOf(msg);
    if (event.key === "ArrowUp" && i > 0) {
      event.preventDefault();
      this.focusMessage(els[i - 1]);
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      if (i < els.length - 1) this.focusMessage(els[i + 1]);
      else this.composer.focus();
    } else if (event.key === "Home") {
      event.preventDefault();
      this.focusMessage(els[0]);
    } else if (event.key === "End") {
      event.preventDefault();
      this.focusMessage(els[els.length - 1]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.composer.focus();
    } else if (event.key === "r" || event.key === "R") {
      const conv = this.state.active;
      const m = conv?.byId.get(msg.dataset.msgid);
      if (m && !m.pending && m.command !== "TOPIC") {
        event.preventDefault();
        this.composer.startReply(conv, m);
      }
    }
  }

  onGlobalKey(event) {
    if (event.key === "Escape") {
      if (this.popover) {
        this.closePopover(true);
        event.preventDefault();
        return;
      }
      if (this.layout.classList.contains("nav-is-open")) {
        this.setNav(false);
        document.getElementById("nav-open")?.focus();
        event.preventDefault();
        return;
      }
      if (this.membersOpen && NARROW.matches && !document.querySelector("dialog[open]")) {
        this.setMembers(false);
        event.preventDefault();
      }
      return;
    }
    if (
      event.altKey &&
      (event.key === "ArrowUp" || event.key === "ArrowDown") &&
      !document.querySelector("dialog[open]")
    ) {
      const convs = [...this.state.channels, ...this.state.dms];
      const i = convs.findIndex((c) => c.key === this.state.activeKey);
      const next = convs[(i + (event.key === "ArrowDown" ? 1 : convs.length - 1)) % convs.length];
      if (next) {
        event.preventDefault();
        this.open(next);
      }
    }
    if (
      (event.ctrlKey || event.metaKey) &&
      event.key.toLowerCase() === "k" &&
      !document.querySelector("dialog[open]")
    ) {
      event.preventDefault();
      channelBrowser(this);
    }
  }

  // -- actions ---------------------------------------------------------------------------------

  open(conv) {
    this.state.setActive(conv.key);
    this.setNav(false);
    this.render();
    this.composer.focus();
  }

  openUser(nick) {
    if (this.state.isMe(nick)) return;
    this.state.openDm(nick);
    if (NARROW.matches) this.setMembers(false, true);
    this.setNav(false);
    this.render();
    this.composer.focus();
  }

  openSearch(initial = "") {
    const conv = this.state.active;
    if (conv) searchDialog(this, conv, initial);
  }

  async confirmLeave(conv) {
    if (await confirmDialog(`Leave ${conv.name}?`, "You can join it again from the channel list.", "Leave"))
      this.state.part(conv);
  }

  async confirmDelete(conv, m) {
    const preview = m.text.length > 80 ? m.text.slice(0, 80) + "…" : m.text;
    if (await confirmDialog("Delete message", `Delete this message for everyone? “${preview}”`, "Delete", true)) {
      this.state.deleteMessage(conv, m);
    }
  }

  editTopic(conv) {
    const input = h("input.topic-input", {
      value: conv.topic,
      aria: { label: `Topic of ${conv.name}` },
      maxLength: 390,
    });
    const done = (save) => {
      if (save && input.value !== conv.topic) this.state.setTopic(conv, input.value);
      this.title.dataset.sig = "";
      this.schedule();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        done(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        done(false);
      }
    });
    input.addEventListener("blur", () => done(false));
    this.subtitle.replaceChildren(input);
    this.title.dataset.sig = "editing";
    input.focus();
    input.select();
  }

  openReactionPicker(conv, m, anchor) {
    this.closePopover();
    const pop = reactionPicker(
      (emoji) => {
        this.state.toggleReaction(conv, m, emoji);
        this.closePopover(true);
      },
      () => this.closePopover(true),
    );
    const msgEl = anchor.closest(".msg");
    msgEl.classList.add("has-popover");
    msgEl.append(pop);
    this.popover = { pop, anchor, msgEl };
    pop.querySelector("button")?.focus();
    setTimeout(
      () =>
        document.addEventListener(
          "pointerdown",
          (this.outsidePop = (e) => {
            if (!pop.contains(e.target)) this.closePopover();
          }),
        ),
      0,
    );
  }

  closePopover(refocus = false) {
    if (!this.popover) return;
    const { pop, anchor, msgEl } = this.popover;
    this.popover = null;
    // Focus the React button while the toolbar is still shown (hidden elements take no focus).
    if (refocus && anchor.isConnected) anchor.focus();
    pop.remove();
    msgEl.classList.remove("has-popover");
    document.removeEventListener("pointerdown", this.outsidePop);
  }

  toast(text, kind = "error", action = null) {
    const el = h(
      `div.toast.${kind}`,
      { role: kind === "error" ? "alert" : "status" },
      icon(kind === "error" ? "alert" : "bell"),
      h("span.toast-text", {}, text),
      action
        ? h(
            "button.link",
            {
              type: "button",
              onclick: () => {
                action.run();
                el.remove();
              },
            },
            action.label,
          )
        : null,
      iconButton("x", "Dismiss", () => el.remove()),
    );
    this.toasts.append(el);
    while (this.toasts.children.length > 4) this.toasts.firstChild.remove();
    if (this.toasts.showPopover) {
      if (this.toasts.matches(":popover-open")) this.toasts.hidePopover();
      this.toasts.showPopover(); // above any dialog opened since
    }
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 5000);
  }
}
