// How each IRC message from the server changes the chat state (`this` is the ChatState).

import { parseSource, stripFormatting } from "./irc.js";

const TYPING_ACTIVE_MS = 6000;
const TYPING_PAUSED_MS = 30000;

/** Error numerics not worth a message to the user. */
export const QUIET_NUMERICS = new Set(["422", "432", "433", "451", "900", "903", "904", "906", "908", "401", "442"]);

function forEachChannelOf(state, nick, fn) {
  const key = state.fold(nick);
  for (const conv of state.convs.values()) {
    if (conv.type === "channel" && conv.members.has(key)) fn(conv, key);
  }
}

export const HANDLERS = {
  PRIVMSG(msg) {
    this.onChat(msg, this.fromChat(msg));
  },
  NOTICE(msg) {
    this.onChat(msg, this.fromChat(msg));
  },
  TAGMSG(msg) {
    const conv = this.convFor(msg, false); // typing or a reaction opens no new conversation
    if (!conv) return;
    const nick = parseSource(msg.source).nick;
    const typing = msg.tags["+typing"] ?? msg.tags["+draft/typing"];
    if (typing !== undefined && !this.isMe(nick)) {
      const key = this.fold(nick);
      if (typing === "active" || typing === "paused") {
        conv.typing.set(key, {
          nick,
          until: Date.now() + (typing === "active" ? TYPING_ACTIVE_MS : TYPING_PAUSED_MS),
          status: typing,
        });
      } else {
        conv.typing.delete(key);
      }
      conv.touch();
    }
    if (msg.tags["+draft/react"] || msg.tags["+draft/unreact"]) {
      if (!conv.firstSight(msg.tags.msgid)) return;
      this.applyReaction(conv, msg);
    }
  },
  REDACT(msg) {
    const conv = this.convFor(msg, false);
    if (!conv) return;
    const id = msg.params[1];
    if (this.remove(conv, id)) return;
    const reaction = conv.reactionIds.get(id);
    if (reaction) {
      const m = conv.byId.get(reaction.target);
      if (m && this.dropReaction(m, reaction.emoji, reaction.nick)) {
        m.version += 1;
        conv.touch();
      }
    }
  },
  JOIN(msg) {
    const nick = parseSource(msg.source).nick;
    const channel = msg.params[0];
    const conv = this.conversation(channel);
    if (this.isMe(nick)) {
      conv.name = channel;
      conv.joined = true;
      conv.members.clear();
      if (this.ready) {
        conv.historyState = conv.historyState === "loaded" ? "loaded" : "none";
        this.catchUp(conv);
        this.refreshWho(conv);
      }
      if (this.wantActive === conv.key) {
        this.wantActive = null;
        this.setActive(conv.key);
      } else if (!this.active && this.ready) {
        this.pickActive();
      }
    } else {
      const user = this.user(nick);
      user.online = true;
      conv.members.set(this.fold(nick), { nick, prefix: "" });
    }
    conv.touch();
  },
  PART(msg) {
    const nick = parseSource(msg.source).nick;
    const conv = this.conversation(msg.params[0], false);
    if (!conv) return;
    if (this.isMe(nick)) {
      this.dropConversation(conv);
    } else {
      conv.members.delete(this.fold(nick));
      conv.touch();
    }
  },
  KICK(msg) {
    const [channel, nick, reason] = msg.params;
    const conv = this.conversation(channel, false);
    if (!conv) return;
    if (this.isMe(nick)) {
      this.dropConversation(conv);
      this.toast(`${parseSource(msg.source).nick} removed you from ${channel}${reason ? `: ${reason}` : ""}`, "info");
    } else {
      conv.members.delete(this.fold(nick));
      conv.touch();
    }
  },
  QUIT(msg) {
    const nick = parseSource(msg.source).nick;
    forEachChannelOf(this, nick, (conv, key) => {
      conv.members.delete(key);
      conv.touch();
    });
    const user = this.user(nick);
    user.online = false;
    user.away = null;
    const dm = this.convs.get(this.fold(nick));
    if (dm) dm.touch();
  },
  NICK(msg) {
    const old = parseSource(msg.source).nick;
    const nick = msg.params[0];
    if (this.isMe(old)) this.nick = nick;
    forEachChannelOf(this, old, (conv, key) => {
      const member = conv.members.get(key);
      conv.members.delete(key);
      conv.members.set(this.fold(nick), { ...member, nick });
      conv.touch();
    });
  },
  AWAY(msg) {
    const nick = parseSource(msg.source).nick;
    const user = this.user(nick);
    user.away = msg.params.length ? msg.params[0] || "Away" : null;
    user.online = true;
    forEachChannelOf(this, nick, (conv) => conv.touch());
    const dm = this.convs.get(this.fold(nick));
    if (dm) dm.touch();
  },
  TOPIC(msg) {
    const conv = this.conversation(msg.params[0], false);
    if (!conv) return;
    conv.topic = stripFormatting(msg.params[1] ?? "");
    if (conv.firstSight(msg.tags.msgid)) this.insert(conv, this.topicEvent(msg));
  },
  MARKREAD(msg) {
    const [target, value] = msg.params;
    if (!target) return;
    const conv = this.conversation(target, !this.isChannel(target));
    if (!conv) return;
    if (value && value.startsWith("timestamp=")) {
      const ms = Date.parse(value.slice(10));
      if (ms && (conv.marker === null || ms > conv.marker)) conv.marker = ms;
    }
    conv.touch();
  },
  306() {
    this.user(this.nick).away = this.away || "Away";
  },
  305() {
    this.user(this.nick).away = null;
  },
  331(msg) {
    const conv = this.conversation(msg.params[1], false);
    if (conv) conv.topic = "";
  },
  332(msg) {
    const conv = this.conversation(msg.params[1], false);
    if (conv) {
      conv.topic = stripFormatting(msg.params[2] ?? "");
      conv.touch();
    }
  },
  353(msg) {
    const channel = msg.params[2];
    const conv = this.conversation(channel, false);
    if (!conv) return;
    if (!conv.namesBuffer) conv.namesBuffer = new Map();
    const symbols = this.conn.prefixes.map(([, s]) => s).join("");
    for (const entry of (msg.params[3] ?? "").split(" ")) {
      if (!entry) continue;
      let i = 0;
      while (i < entry.length && symbols.includes(entry[i])) i++;
      const nick = parseSource(entry.slice(i)).nick;
      conv.namesBuffer.set(this.fold(nick), { nick, prefix: entry.slice(0, i) });
      const user = this.user(nick);
      user.online = true;
    }
  },
  366(msg) {
    const conv = this.conversation(msg.params[1], false);
    if (!conv) return;
    conv.members = conv.namesBuffer ?? new Map();
    conv.namesBuffer = null;
    conv.touch();
  },
  MODE(msg) {
    const conv = this.conversation(msg.params[0], false);
    if (!conv || conv.type !== "channel") return;
    const modes = msg.params[1] ?? "";
    const args = msg.params.slice(2);
    const prefixMap = new Map(this.conn.prefixes);
    const chanmodes = (this.conn.isupport.get("CHANMODES") ?? "beI,k,l,imnst").split(",");
    let adding = true;
    for (const ch of modes) {
      if (ch === "+" || ch === "-") {
        adding = ch === "+";
        continue;
      }
      if (prefixMap.has(ch)) {
        const nick = args.shift();
        const member = nick && conv.members.get(this.fold(nick));
        if (member) {
          const symbol = prefixMap.get(ch);
          const set = new Set(member.prefix);
          if (adding) set.add(symbol);
          else set.delete(symbol);
          member.prefix = this.conn.prefixes
            .map(([, s]) => s)
            .filter((s) => set.has(s))
            .join("");
        }
      } else if (chanmodes[0]?.includes(ch) || chanmodes[1]?.includes(ch) || (adding && chanmodes[2]?.includes(ch))) {
        args.shift();
      }
    }
    conv.touch();
  },
  730(msg) {
    setMonitored(this, msg, true);
  },
  731(msg) {
    setMonitored(this, msg, false);
  },
  INVITE(msg) {
    const nick = parseSource(msg.source).nick;
    if (this.isMe(msg.params[0])) this.emit("invite", { nick, channel: msg.params[1] });
  },
  FAIL(msg) {
    const command = msg.params[0];
    if (command === "CHATHISTORY" || command === "MARKREAD") return;
    this.toast(msg.params[msg.params.length - 1]);
  },
  ERROR() {},
};

/** RPL_MONONLINE / RPL_MONOFFLINE: the listed users are online (or gone, and no longer away). */
function setMonitored(state, msg, online) {
  for (const entry of (msg.params[1] ?? "").split(",")) {
    if (!entry) continue;
    const user = state.user(parseSource(entry).nick);
    user.online = online;
    if (!online) user.away = null;
  }
  for (const conv of state.convs.values()) if (conv.type === "dm") conv.touch();
}
