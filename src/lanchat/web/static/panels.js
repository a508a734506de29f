// The sidebar (channels, direct messages, unread counts, you) and the member list.

import { avatar, h, icon, iconButton, reconcile } from "./dom.js";

function convItem(ui, conv) {
  const state = ui.state;
  const counts = state.unread(conv);
  const active = conv.key === state.activeKey;
  const user = conv.type === "dm" ? state.users.get(conv.key) : null;
  const presence = conv.type === "dm" ? presenceOf(user) : "";
  const sig = [conv.name, counts.unread, counts.mentions, counts.more, active, presence, conv.joined].join("|");
  return {
    key: conv.key,
    sig,
    build: () => {
      const label = [conv.name];
      if (counts.unread) label.push(`${counts.unread}${counts.more ? "+" : ""} unread`);
      if (counts.mentions && conv.type === "channel")
        label.push(`${counts.mentions} mention${counts.mentions > 1 ? "s" : ""}`);
      if (presence) label.push(presence);
      const classes = ["conv"];
      if (counts.unread) classes.push("unread");
      if (counts.mentions) classes.push("has-mention");
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: classes.join(" "),
            data: { conv: conv.name },
            aria: { current: active ? "page" : undefined, label: label.join(", ") },
            onclick: () => ui.open(conv),
          },
          conv.type === "channel"
            ? h("span.conv-icon", {}, icon("hash"))
            : h("span.conv-avatar", {}, avatar(conv.name, "small"), h(`span.presence.${presence || "unknown"}`)),
          h("span.conv-name", {}, conv.type === "channel" ? conv.name.replace(/^#/, "") : conv.name),
          counts.unread
            ? h(
                `span.badge.count${counts.mentions ? ".mention" : ""}`,
                { aria: { hidden: "true" } },
                `${counts.unread}${counts.more ? "+" : ""}`,
              )
            : null,
        ),
      );
    },
  };
}

/** Update the sidebar. */
export function renderSidebar(ui) {
  const state = ui.state;
  reconcile(
    ui.channelList,
    state.channels.map((c) => convItem(ui, c)),
  );
  const dms = state.dms;
  reconcile(
    ui.dmList,
    dms.map((c) => convItem(ui, c)),
  );
  if (!dms.length) {
    if (!ui.dmList.querySelector(".conv-empty"))
      ui.dmList.append(h("li.conv-empty", {}, "Click someone's name to talk to them."));
  }
  const me = state.user(state.nick);
  const sig = `${state.nick}|${me.away}|${state.connected}`;
  if (ui.meBox.dataset.sig !== sig) {
    ui.meBox.dataset.sig = sig;
    const status = !state.connected ? "offline" : me.away ? "away" : "online";
    ui.meBox.replaceChildren(
      h("span.conv-avatar", {}, avatar(state.nick), h(`span.presence.${status}`)),
      h(
        "span.me-text",
        {},
        h("span.me-nick", {}, state.nick),
        h(
          "span.me-status",
          {},
          status === "away"
            ? `Away${me.away && me.away !== "Away" ? `: ${me.away}` : ""}`
            : status === "online"
              ? "Online"
              : "Offline",
        ),
      ),
    );
  }
  const awayLabel = state.away ? "Set yourself as back" : "Set yourself as away";
  ui.awayButton.title = awayLabel;
  ui.awayButton.setAttribute("aria-label", awayLabel);
  ui.awayButton.setAttribute("aria-pressed", String(!!state.away));
  const notifyLabel = ui.notifier.label();
  ui.notifyButton.title = notifyLabel;
  ui.notifyButton.setAttribute("aria-label", notifyLabel);
  ui.notifyButton.setAttribute("aria-pressed", String(ui.notifier.enabled));
}

/** Update the member list of a channel (shown or hidden). */
export function renderMembers(ui, conv) {
  const state = ui.state;
  const show = !!conv && conv.type === "channel" && ui.membersOpen;
  ui.layout.classList.toggle("members-is-open", show);
  ui.memberPanel.hidden = !show;
  if (!show) return;
  const rank = (m) => {
    const symbols = state.conn ? state.conn.prefixes.map(([, s]) => s) : ["@", "+"];
    const i = symbols.findIndex((s) => m.prefix.includes(s));
    return i < 0 ? symbols.length : i;
  };
  const members = [...conv.members.values()].map((m) => ({ ...m, user: state.users.get(state.fold(m.nick)) }));
  members.sort(
    (a, b) => rank(a) - rank(b) || Number(!!a.user?.away) - Number(!!b.user?.away) || a.nick.localeCompare(b.nick),
  );
  const sig = members.map((m) => `${m.nick}${m.prefix}${m.user?.away ?? ""}`).join(",");
  if (ui.memberPanel.dataset.sig === sig + conv.key) return;
  ui.memberPanel.dataset.sig = sig + conv.key;
  const online = members.filter((m) => !m.user?.away);
  const away = members.filter((m) => m.user?.away);
  const item = (m) => {
    const me = state.isMe(m.nick);
    const role =
      m.prefix.includes("@") || m.prefix.includes("~") || m.prefix.includes("&")
        ? "operator"
        : m.prefix.includes("+")
          ? "voice"
          : "";
    const presence = m.user?.away ? "away" : "online";
    return h(
      "li",
      {},
      h(
        "button.member",
        {
          type: "button",
          data: { nick: m.nick },
          disabled: me,
          title: me
            ? "You"
            : m.user?.away
              ? `${m.nick} is away${m.user.away !== "Away" ? `: ${m.user.away}` : ""}. Send a direct message`
              : `Send ${m.nick} a direct message`,
          aria: { label: `${m.nick}${role ? `, ${role}` : ""}, ${presence}${me ? ", you" : ""}` },
          onclick: () => ui.openUser(m.nick),
        },
        h("span.conv-avatar", {}, avatar(m.nick, "small"), h(`span.presence.${presence}`)),
        h("span.member-nick", {}, m.nick),
        role === "operator" ? h("span.role", { title: "Channel operator" }, "op") : null,
        me ? h("span.role.subtle", {}, "you") : null,
      ),
    );
  };
  ui.memberPanel.replaceChildren(
    h(
      "div.members-head",
      {},
      h("h2", {}, `Members · ${members.length}`),
      iconButton("x", "Hide members", () => ui.setMembers(false), { class: "members-close" }),
    ),
    h(
      "div.members-scroll",
      {},
      online.length ? h("h3.section-title", {}, `Online — ${online.length}`) : null,
      h("ul.member-list", {}, online.map(item)),
      away.length ? h("h3.section-title", {}, `Away — ${away.length}`) : null,
      h("ul.member-list", {}, away.map(item)),
    ),
  );
}

export function presenceOf(user) {
  if (!user || user.online === null || user.online === undefined) return "";
  if (!user.online) return "offline";
  return user.away ? "away" : "online";
}
