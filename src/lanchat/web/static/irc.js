// IRC message parsing and serialisation (RFC 1459 framing with IRCv3 message tags).

const TAG_UNESCAPE = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

/** Unescape a message-tag value. */
export function unescapeTag(value) {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    i++;
    if (i >= value.length) break; // a trailing backslash is dropped
    const next = value[i];
    out += TAG_UNESCAPE[next] ?? next;
  }
  return out;
}

/** Escape a message-tag value. */
export function escapeTag(value) {
  return String(value).replace(/[\\; \r\n]/g, (ch) => {
    switch (ch) {
      case "\\":
        return "\\\\";
      case ";":
        return "\\:";
      case " ":
        return "\\s";
      case "\r":
        return "\\r";
      default:
        return "\\n";
    }
  });
}

/**
 * Parse one IRC line (without CR LF).
 * Returns {tags: {}, source: string|null, command: string (upper case), params: string[]}.
 */
export function parseMessage(line) {
  const msg = { tags: {}, source: null, command: "", params: [] };
  let pos = 0;
  const len = line.length;
  const skipSpaces = () => {
    while (pos < len && line[pos] === " ") pos++;
  };
  if (line[pos] === "@") {
    let end = line.indexOf(" ", pos);
    if (end < 0) end = len;
    for (const item of line.slice(pos + 1, end).split(";")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      const key = eq < 0 ? item : item.slice(0, eq);
      msg.tags[key] = eq < 0 ? "" : unescapeTag(item.slice(eq + 1));
    }
    pos = end;
    skipSpaces();
  }
  if (line[pos] === ":") {
    let end = line.indexOf(" ", pos);
    if (end < 0) end = len;
    msg.source = line.slice(pos + 1, end);
    pos = end;
    skipSpaces();
  }
  let end = line.indexOf(" ", pos);
  if (end < 0) end = len;
  msg.command = line.slice(pos, end).toUpperCase();
  pos = end;
  while (pos < len) {
    skipSpaces();
    if (pos >= len) break;
    if (line[pos] === ":") {
      msg.params.push(line.slice(pos + 1));
      break;
    }
    let stop = line.indexOf(" ", pos);
    if (stop < 0) stop = len;
    msg.params.push(line.slice(pos, stop));
    pos = stop;
  }
  return msg;
}

/**
 * Serialise a message: formatMessage("PRIVMSG", ["#a", "hi there"], {label: "x"}).
 * Only the last parameter may be empty or hold spaces; a middle one that would change the
 * line's meaning (empty, a space, CR, LF, NUL, a leading ":") throws instead.
 */
export function formatMessage(command, params = [], tags = {}) {
  let line = "";
  const tagItems = Object.entries(tags).filter(([, v]) => v !== undefined && v !== null);
  if (tagItems.length) {
    line += "@" + tagItems.map(([k, v]) => (v === "" || v === true ? k : `${k}=${escapeTag(v)}`)).join(";") + " ";
  }
  line += command;
  params.forEach((param, i) => {
    const last = i === params.length - 1;
    if (!last) {
      const text = String(param);
      if (text === "" || /[ \r\n\0]/.test(text) || text.startsWith(":"))
        throw new Error(`${command}: invalid parameter ${JSON.stringify(text)}`);
      line += " " + text;
      return;
    }
    const text = String(param).replace(/[\r\n\0]/g, " ");
    if (text === "" || text.includes(" ") || text.startsWith(":")) {
      line += " :" + text;
    } else {
      line += " " + text;
    }
  });
  return line;
}

/** Why a typed nick or channel name cannot be used (a sentence for the user), or null. */
export function nameProblem(name, what = "name") {
  if (!name) return `Enter a ${what}.`;
  if (/\s/.test(name)) return `A ${what} cannot contain spaces.`;
  if (/[\0-\x1f\x7f]/.test(name)) return `A ${what} cannot contain control characters.`;
  if (name.startsWith(":")) return `A ${what} cannot start with “:”.`;
  return null;
}

/** Split a source "nick!user@host" into its parts. */
export function parseSource(source) {
  if (!source) return { nick: "", user: "", host: "" };
  const bang = source.indexOf("!");
  const at = source.indexOf("@", bang < 0 ? 0 : bang);
  if (bang < 0 && at < 0) return { nick: source, user: "", host: "" };
  const nickEnd = bang >= 0 ? bang : at;
  return {
    nick: source.slice(0, nickEnd),
    user: bang >= 0 ? source.slice(bang + 1, at < 0 ? undefined : at) : "",
    host: at >= 0 ? source.slice(at + 1) : "",
  };
}

/** Case-fold a name per the server's CASEMAPPING. */
export function casefold(name, mapping = "rfc1459") {
  let out = "";
  for (const ch of name) {
    if (ch >= "A" && ch <= "Z") out += ch.toLowerCase();
    else if (mapping !== "ascii" && ch === "[") out += "{";
    else if (mapping !== "ascii" && ch === "]") out += "}";
    else if (mapping !== "ascii" && ch === "\\") out += "|";
    else if (mapping === "rfc1459" && ch === "~") out += "^";
    else out += mapping === "ascii" || mapping.startsWith("rfc") ? ch : ch.toLowerCase();
  }
  return out;
}

/** UTF-8 length of a string in bytes. */
export function byteLength(text) {
  return new TextEncoder().encode(text).length;
}

/**
 * Split text into chunks of at most maxBytes UTF-8 bytes, preferring to break after a space.
 * Never splits a character (or a surrogate pair).
 */
export function splitBytes(text, maxBytes) {
  const chunks = [];
  let current = "";
  let size = 0;
  let lastSpace = -1;
  for (const ch of text) {
    const n = byteLength(ch);
    if (size + n > maxBytes && current) {
      if (lastSpace > 0 && lastSpace < current.length) {
        chunks.push(current.slice(0, lastSpace));
        current = current.slice(lastSpace);
        size = byteLength(current);
      } else {
        chunks.push(current);
        current = "";
        size = 0;
      }
      lastSpace = -1;
    }
    current += ch;
    size += n;
    if (ch === " ") lastSpace = current.length;
  }
  if (current || !chunks.length) chunks.push(current);
  return chunks;
}

/** Format a time in milliseconds as an IRCv3 server-time timestamp. */
export function isoTime(ms) {
  return new Date(ms).toISOString();
}

const FORMATTING = /[\x02\x0f\x11\x16\x1d\x1e\x1f]|\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?/g;

/** Remove mIRC formatting codes (colours, bold…) from text sent by IRC clients. */
export function stripFormatting(text) {
  return text.replace(FORMATTING, "");
}
