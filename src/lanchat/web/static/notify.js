// Desktop notifications for direct messages and mentions while the tab is hidden, and the
// unread count in the page title.

const KEY = "lanchat.notifications";

export class Notifier {
  constructor(ui) {
    this.ui = ui;
    this.wanted = localStorage.getItem(KEY) !== "off";
    this.lastTitle = "";
  }

  get supported() {
    return "Notification" in window;
  }

  get enabled() {
    return this.supported && this.wanted && Notification.permission === "granted";
  }

  label() {
    if (!this.supported) return "Desktop notifications are not available in this browser";
    if (Notification.permission === "denied") return "Desktop notifications are blocked in the browser settings";
    return this.enabled
      ? "Turn off desktop notifications"
      : "Turn on desktop notifications for direct messages and mentions";
  }

  async toggle() {
    if (!this.supported) {
      this.ui.toast("This browser cannot show desktop notifications.", "info");
      return;
    }
    if (this.enabled) {
      this.wanted = false;
      localStorage.setItem(KEY, "off");
      this.ui.toast("Desktop notifications are off.", "info");
    } else {
      this.wanted = true;
      localStorage.setItem(KEY, "on");
      if (Notification.permission !== "granted") {
        try {
          await Notification.requestPermission();
        } catch {
          /* old browsers */
        }
      }
      if (Notification.permission === "granted")
        this.ui.toast("Desktop notifications are on for direct messages and mentions.", "info");
      else this.ui.toast("The browser did not allow notifications.", "info");
    }
    this.ui.schedule();
  }

  /** A direct message or a mention arrived. */
  notify(conv, message) {
    const hidden = document.visibilityState !== "visible" || !document.hasFocus();
    if (!hidden || !this.enabled) return;
    const title = conv.type === "dm" ? message.nick : `${message.nick} in ${conv.name}`;
    const body = message.text.length > 180 ? message.text.slice(0, 180) + "…" : message.text;
    try {
      const note = new Notification(title, { body, tag: `lanchat-${conv.key}`, icon: "/assets/icon.svg" });
      note.addEventListener("click", () => {
        window.focus();
        this.ui.state.setActive(conv.key);
        note.close();
      });
    } catch {
      /* some platforms only allow notifications from a service worker */
    }
  }

  updateTitle() {
    const { unread, mentions } = this.ui.state.totalUnread();
    const conv = this.ui.state.active;
    const name = conv ? conv.name : "";
    const count = mentions ? `(${mentions}) ` : unread ? "• " : "";
    const title = `${count}${name ? name + " · " : ""}${this.ui.info.network || "lanchat"}`;
    if (title !== this.lastTitle) {
      this.lastTitle = title;
      document.title = title;
    }
  }
}
