"""The reply buffer: everything one command answers, sent together when it finishes.

Handlers never write to the connection; they add lines here. On flush the buffer applies
labeled-response once for all commands: no reply becomes an ACK, one reply carries the label,
several are wrapped in a ``labeled-response`` batch (or, when they already form exactly one
batch, that batch's opening line carries the label).
"""

from __future__ import annotations

import itertools

from lanchat.irc.client import R_BATCH, R_LABELED, Client, add_tags, has_batch_tag
from lanchat.proto.message import Message

_batch_ids = itertools.count(1)

#: A numeric reply: its code and its parameters after the nick.
Numeric = tuple[str, list[str]]
#: A numeric reply rendered once for many clients, split where the nick goes: head, tail.
NumericTemplate = tuple[bytes, bytes]


def numeric_template(server_name: str, code: str, params: list[str]) -> NumericTemplate:
    """Render a numeric reply once; :meth:`ReplyBuffer.add_templates` puts each client's nick in."""
    head = f":{server_name} {code} ".encode()
    line = Message(code, _safe(["*", *params]), server_name).to_bytes()
    if not line.startswith(head + b"* "):
        raise ValueError(f"numeric {code} does not render as {head!r} NICK …")
    return head, line[len(head) + 1 :]


def new_batch_ref() -> str:
    """A batch reference unique on this server."""
    return f"b{next(_batch_ids)}"


class ReplyBuffer:
    """Collects the lines answering one command for one client."""

    __slots__ = ("client", "flushed", "label", "lines", "server_name")

    def __init__(self, client: Client, server_name: str, label: str | None) -> None:
        self.client = client
        self.server_name = server_name
        self.label = label if label and client.render_mask & R_LABELED else None
        self.lines: list[bytes] = []
        #: The command has finished and its reply went out: later lines go straight to the client.
        self.flushed = False

    @property
    def nick(self) -> str:
        """The client's nick, or ``*`` before it has one."""
        return self.client.nick

    def add(self, msg: Message) -> None:
        """Add a message (tags filtered for this client)."""
        self.lines.append(self.client.encode(msg))

    def add_line(self, line: bytes) -> None:
        """Add an already-serialized line rendered for this client."""
        self.lines.append(line)

    def numeric(self, code: str, *params: str) -> None:
        """Add a numeric reply addressed to the client."""
        self.lines.append(Message(code, _safe([self.client.nick, *params]), self.server_name).to_bytes())

    def add_templates(self, templates: list[NumericTemplate]) -> None:
        """Add several numerics made by :func:`numeric_template`, in order."""
        nick = self.client.nick.encode("utf-8", "surrogateescape")
        self.lines += [head + nick + tail for head, tail in templates]

    def server_msg(self, command: str, *params: str, tags: dict[str, str] | None = None) -> None:
        """Add a non-numeric message from the server (FAIL, CAP, PONG …)."""
        self.add(Message(command, _safe(list(params)), self.server_name, tags or {}))

    def fail(self, command: str, code: str, *context: str) -> None:
        """Add a standard-replies FAIL; the last item of ``context`` is the description."""
        self.server_msg("FAIL", command, code, *context)

    def start_batch(self, kind: str, *params: str, source: str | None = None) -> str | None:
        """Open a batch when the client supports batches; returns its ref (or None)."""
        if not self.client.render_mask & R_BATCH:
            return None
        ref = new_batch_ref()
        self.lines.append(Message("BATCH", ["+" + ref, kind, *params], source or self.server_name).to_bytes())
        return ref

    def end_batch(self, ref: str | None, source: str | None = None) -> None:
        """Close a batch opened by :meth:`start_batch`."""
        if ref is not None:
            self.lines.append(Message("BATCH", ["-" + ref], source or self.server_name).to_bytes())

    def send_pending(self) -> None:
        """Send what is collected so far, unless a label needs the whole reply at once.

        Handlers call this before waiting on I/O after a change others can see (a JOIN), so
        that the client gets its own lines before the traffic that follows them.
        """
        if self.label is None and self.lines:
            lines, self.lines = self.lines, []
            self.client.queue_all(lines)

    def flush(self) -> None:
        """Send everything collected, labeled when the command was."""
        client = self.client
        lines = self.lines
        self.lines = []
        self.flushed = True
        label = self.label
        if label is not None:
            lines = self._labeled(lines, label)
        client.queue_all(lines)

    def _labeled(self, lines: list[bytes], label: str) -> list[bytes]:
        tag = {"label": label}
        if not lines:
            return [Message("ACK", [], self.server_name, tag).to_bytes()]
        if len(lines) == 1 or _one_batch(lines):
            return [add_tags(lines[0], tag), *lines[1:]]
        if not self.client.render_mask & R_BATCH:
            return lines
        ref = new_batch_ref()
        inner = {"batch": ref}
        out = [Message("BATCH", ["+" + ref, "labeled-response"], self.server_name, tag).to_bytes()]
        out.extend(line if has_batch_tag(line) else add_tags(line, inner) for line in lines)
        out.append(Message("BATCH", ["-" + ref], self.server_name).to_bytes())
        return out


def _safe(params: list[str]) -> list[str]:
    """Replies echo what clients sent; a value that cannot be a middle parameter (empty, with
    a space, or starting with ``:``) is shown as ``*``."""
    for i in range(len(params) - 1):
        p = params[i]
        if not p or " " in p or p[0] == ":":
            params[i] = "*"
    return params


def _one_batch(lines: list[bytes]) -> bool:
    """True when the lines are exactly one batch: BATCH +x, lines tagged batch=x, BATCH -x."""
    first = _command_and_param(lines[0])
    last = _command_and_param(lines[-1])
    if first is None or last is None or first[0] != "BATCH" or last[0] != "BATCH":
        return False
    ref = first[1]
    if not ref.startswith("+") or last[1] != "-" + ref[1:]:
        return False
    return all(has_batch_tag(line) for line in lines[1:-1])


def _command_and_param(line: bytes) -> tuple[str, str] | None:
    """(command, first parameter) of a serialized line, cheaply."""
    words = line.split(b" ", 4)
    i = 0
    if words[i].startswith(b"@"):
        i += 1
    if i < len(words) and words[i].startswith(b":"):
        i += 1
    if i + 1 >= len(words):
        return None
    return words[i].decode("utf-8", "replace"), words[i + 1].strip().decode("utf-8", "replace")
