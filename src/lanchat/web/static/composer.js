// The message input: Enter sends, Shift+Enter adds a line, replies, typing notifications,
// slash commands and file uploads (pick, paste, drop) with a progress bar.

import { upload } from "./api.js";
import { formatSize, h, icon, iconButton } from "./dom.js";
import { nameProblem } from "./irc.js";

const TYPING_EVERY_MS = 3000;
const MAX_ROWS = 10;

export class Composer {
  constructor(ui) {
    this.ui = ui;
    this.state = ui.state;
    this.reply = null; // {conv, m}
    this.drafts = new Map();
    this.lastTyping = 0;
    this.typingConv = null;
    this.uploads = [];

    this.input = h("textarea.composer-input", {
      id: "composer-input",
      rows: 1,
      placeholder: "Message",
      aria: { label: "Message" },
      autocomplete: "off",
      spellcheck: "true",
      enterKeyHint: "send",
      onkeydown: (e) => this.onKeyDown(e),
      oninput: () => this.onInput(),
      onpaste: (e) => this.onPaste(e),
    });
    this.fileInput = h("input.visually-hidden", {
      type: "file",
      multiple: true,
      tabindex: "-1",
      aria: { hidden: "true" },
      onchange: () => {
        const files = [...this.fileInput.files];
        this.fileInput.value = "";
        this.uploadFiles(files);
      },
    });
    this.replyBar = h("div.reply-bar", { hidden: true });
    this.uploadList = h("div.uploads", { hidden: true, aria: { live: "polite" } });
    this.sendButton = h(
      "button.send-button",
      { type: "submit", title: "Send (Enter)", aria: { label: "Send" } },
      icon("send"),
    );
    this.el = h(
      "form.composer",
      {
        aria: { label: "Write a message" },
        onsubmit: (e) => {
          e.preventDefault();
          this.send();
        },
      },
      this.replyBar,
      this.uploadList,
      h(
        "div.composer-box",
        {},
        iconButton("paperclip", "Share a file", () => this.fileInput.click(), { class: "attach-button" }),
        this.fileInput,
        this.input,
        this.sendButton,
      ),
      h(
        "p.composer-hint",
        {},
        h("kbd", {}, "Enter"),
        " to send · ",
        h("kbd", {}, "Shift"),
        "+",
        h("kbd", {}, "Enter"),
        " for a new line",
      ),
    );
  }

  /** Switch the composer to a conversation (keeping each conversation's draft). */
  setConversation(prev, conv) {
    if (prev) this.drafts.set(prev.key, this.input.value);
    this.input.value = conv ? (this.drafts.get(conv.key) ?? "") : "";
    if (this.reply && (!conv || this.reply.conv !== conv)) this.cancelReply(false);
    const name = conv ? (conv.type === "channel" ? conv.name : conv.name) : "";
    this.input.placeholder = conv ? `Message ${name}` : "Message";
    this.input.setAttribute("aria-label", conv ? `Message ${name}` : "Message");
    this.autosize();
  }

  focus() {
    this.input.focus({ preventScroll: true });
  }

  autosize() {
    const lines = this.input.value.split("\n").length;
    this.input.rows = Math.min(MAX_ROWS, Math.max(1, lines));
  }

  onKeyDown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
      event.preventDefault();
      this.send();
    } else if (event.key === "Escape" && this.reply) {
      event.preventDefault();
      this.cancelReply();
    } else if (event.key === "ArrowUp" && !this.input.value && event.altKey === false && !event.shiftKey) {
      // Up in an empty input moves into the message list.
      if (this.ui.focusLastMessage()) event.preventDefault();
    }
  }

  onInput() {
    this.autosize();
    const conv = this.state.active;
    if (!conv) return;
    const text = this.input.value;
    const now = Date.now();
    if (!text || text.startsWith("/")) {
      if (this.lastTyping && this.typingConv === conv) {
        this.state.sendTyping(conv, "done");
        this.lastTyping = 0;
      }
      return;
    }
    if (now - this.lastTyping > TYPING_EVERY_MS || this.typingConv !== conv) {
      this.state.sendTyping(conv, "active");
      this.lastTyping = now;
      this.typingConv = conv;
    }
  }

  onPaste(event) {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length) {
      event.preventDefault();
      this.uploadFiles(files);
    }
  }

  send() {
    const conv = this.state.active;
    const text = this.input.value.replace(/\s+$/, "");
    if (!conv || !text.trim()) return;
    if (!this.state.connected) {
      this.ui.toast("Not connected: the message stays here until the connection is back.");
      return;
    }
    if (text.startsWith("/") && !text.startsWith("//")) {
      if (!this.command(conv, text)) return;
    } else {
      const body = text.startsWith("//") ? text.slice(1) : text;
      const problem = this.state.tooLong(body);
      if (problem) {
        this.ui.toast(problem);
        return;
      }
      this.state.sendText(conv, body, { replyTo: this.reply ? this.reply.m.id : null });
    }
    this.input.value = "";
    this.drafts.delete(conv.key);
    this.lastTyping = 0;
    this.cancelReply(false);
    this.autosize();
    this.ui.scrollToBottom();
  }

  /** Slash commands; returns false to keep the text in the input. */
  command(conv, text) {
    const [verb, ...rest] = text.slice(1).split(" ");
    const arg = rest.join(" ").trim();
    const state = this.state;
    switch (verb.toLowerCase()) {
      case "me":
        if (arg) state.sendText(conv, `\x01ACTION ${arg}\x01`);
        return true;
      case "join":
      case "j": {
        const name = arg.split(" ")[0];
        if (!name) return true;
        const problem = nameProblem(name, "channel name");
        if (problem) {
          this.ui.toast(problem);
          return false;
        }
        state.join(name);
        return true;
      }
      case "part":
      case "leave":
        state.part(conv);
        return true;
      case "topic":
        if (conv.type !== "channel") {
          this.ui.toast("Only channels have a topic.", "info");
          return false;
        }
        // Bare /topic shows the topic; clearing it is done in the header's topic editor.
        if (arg) state.setTopic(conv, arg);
        else {
          const shown = conv.topic ? `Topic of ${conv.name}: ${conv.topic}` : `No topic set in ${conv.name}.`;
          this.ui.toast(shown, "info");
        }
        return true;
      case "msg":
      case "query": {
        const [nick, ...words] = arg.split(" ");
        if (!nick) return false;
        const problem = nameProblem(nick, "username");
        if (problem) {
          this.ui.toast(problem);
          return false;
        }
        const dm = state.openDm(nick);
        if (words.length) state.sendText(dm, words.join(" "));
        return true;
      }
      case "away":
        state.setAway(arg || "Away");
        return true;
      case "back":
        state.setAway(null);
        return true;
      case "search":
        this.ui.openSearch(arg);
        return true;
      default:
        this.ui.toast(
          `Unknown command /${verb}. Try /me, /join, /part, /topic, /msg, /away, /back, /search; start with // to send a slash.`,
        );
        return false;
    }
  }

  startReply(conv, m) {
    this.reply = { conv, m };
    this.replyBar.replaceChildren(
      icon("reply"),
      h("span.reply-label", {}, "Replying to ", h("strong", {}, m.nick)),
      h("span.reply-text", {}, m.text.replace(/\s+/g, " ").slice(0, 120)),
      iconButton("x", "Cancel reply", () => this.cancelReply()),
    );
    this.replyBar.hidden = false;
    this.focus();
  }

  cancelReply(focus = true) {
    this.reply = null;
    this.replyBar.hidden = true;
    this.replyBar.replaceChildren();
    if (focus) this.focus();
  }

  // -- uploads ----------------------------------------------------------------------------

  uploadFiles(files) {
    const conv = this.state.active;
    if (!conv || !files.length) return;
    const max = this.ui.info.max_upload_bytes;
    for (const file of files) {
      if (max && file.size > max) {
        this.ui.toast(`${file.name} is too large (${formatSize(file.size)}; the limit is ${formatSize(max)}).`);
        continue;
      }
      this.startUpload(conv, file);
    }
  }

  startUpload(conv, file) {
    const progress = h("progress", { max: 1, value: 0, aria: { label: `Uploading ${file.name}` } });
    const percent = h("span.upload-percent", {}, "0%");
    const entry = { file, progress };
    const { promise, abort } = upload(file, (fraction) => {
      progress.value = fraction;
      percent.textContent = `${Math.round(fraction * 100)}%`;
    });
    entry.el = h(
      "div.upload",
      { role: "status" },
      icon("file"),
      h("span.upload-name", {}, file.name),
      h("span.upload-size", {}, formatSize(file.size)),
      progress,
      percent,
      iconButton("x", `Cancel upload of ${file.name}`, () => abort()),
    );
    this.uploads.push(entry);
    this.renderUploads();
    promise
      .then((result) => {
        const url = new URL(result.url, location.href).href;
        this.state.sendText(conv, url);
      })
      .catch((err) => {
        if (err.status !== -1) this.ui.toast(`${file.name}: ${err.message}`);
      })
      .finally(() => {
        this.uploads = this.uploads.filter((u) => u !== entry);
        this.renderUploads();
      });
  }

  renderUploads() {
    this.uploadList.replaceChildren(...this.uploads.map((u) => u.el));
    this.uploadList.hidden = !this.uploads.length;
  }
}
