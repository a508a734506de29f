"""PRIVMSG, NOTICE, TAGMSG, client batches (draft/multiline) and REDACT."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lanchat.core.errors import (
    ChatError,
    NoSuchChannel,
    NotOnChannel,
    RedactForbidden,
    UnknownMessage,
)
from lanchat.core.model import Session
from lanchat.irc.client import R_LABELED, Client, MultilineBatch
from lanchat.irc.commands import Reply, command
from lanchat.irc.errors import reply_error
from lanchat.irc.isupport import MULTILINE_MAX_BYTES, MULTILINE_MAX_LINES, TARGETS_PER_MESSAGE
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import MAX_BODY_BYTES, Message
from lanchat.proto.names import is_channel

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

MULTILINE_CONCAT = "draft/multiline-concat"


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def too_long_to_relay(client: Client, kind: str, target: str, texts: list[str]) -> bool:
    """True when a relayed line (with the sender's ``nick!user@host``) would not fit in 512
    bytes. Such messages are refused (417) rather than cut: nothing is lost silently."""
    user = client.me
    # ":" mask " " kind " " target " :" text CR LF
    overhead = _bytes(user.nick) + _bytes(user.user) + _bytes(user.host) + _bytes(kind) + _bytes(target) + 9
    return any(overhead + _bytes(text) > MAX_BODY_BYTES for text in texts)


def client_tags(msg: Message) -> dict[str, str]:
    """The client-only (``+``) tags of a message; other client-sent tags are not relayed."""
    if not msg.tags:
        return {}
    return {k: v for k, v in msg.tags.items() if k.startswith("+")}


@command("PRIVMSG", help="PRIVMSG #channel|nick[,…] :text")
def privmsg(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _send(server, client, msg, rb, "PRIVMSG")


@command("NOTICE", help="NOTICE #channel|nick :text  (never answered automatically)")
def notice(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _send(server, client, msg, rb, "NOTICE")


@command("TAGMSG", help="TAGMSG #channel|nick  (carries only client tags such as +typing)")
def tagmsg(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _send(server, client, msg, rb, "TAGMSG")


def _send(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer, kind: str) -> Reply:
    quiet = kind == "NOTICE"
    if not msg.params or not msg.params[0]:
        if not quiet:
            rb.numeric(N.ERR_NORECIPIENT, f"No recipient given ({kind})")
        return None
    text = ""
    if kind != "TAGMSG":
        if len(msg.params) < 2 or not msg.params[1]:
            if not quiet:
                rb.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
            return None
        text = msg.params[1]
    targets = [t for t in msg.params[0].split(",") if t][:TARGETS_PER_MESSAGE]
    longest = max(targets, key=len, default="")
    if too_long_to_relay(client, kind, longest, [text]):
        rb.numeric(N.ERR_INPUTTOOLONG, "Input line was too long to relay: send shorter lines")
        return None
    tags = client_tags(msg)
    if len(targets) == 1:
        # The hot paths, without a coroutine: the message is queued for the store before the
        # connection's next line is read (see IrcServer._dispatch).
        target = targets[0]
        if is_channel(target.lstrip("@+")):
            try:
                return server.messages.send(client.me, target, kind, text, tags)
            except ChatError as exc:
                if not quiet:
                    reply_error(rb, kind, exc)
                return None
        peer = server.state.session(target)
        if peer is not None:
            sent = server.messages.send(client.me, target, kind, text, tags)
            if kind == "PRIVMSG" and isinstance(sent, asyncio.Future):
                # After the echo (delivered by the first callback), before the reply goes out.
                sent.add_done_callback(lambda done: _tell_away(done, peer, rb))
            return sent
    return _send_each(server, client, targets, kind, text, tags, rb)


def _tell_away(sent: asyncio.Future[None], peer: Session, rb: ReplyBuffer) -> None:
    if not sent.cancelled() and sent.exception() is None:
        _away_reply(rb, peer)


def _away_reply(rb: ReplyBuffer, peer: Session | None) -> None:
    """RPL_AWAY after a direct message to a user who is away."""
    if peer is not None and peer.away is not None:
        rb.numeric(N.RPL_AWAY, peer.nick, peer.away)


async def _send_each(
    server: IrcServer,
    client: Client,
    targets: list[str],
    kind: str,
    text: str,
    tags: dict[str, str],
    rb: ReplyBuffer,
    lines: tuple[tuple[str, bool], ...] = (),
) -> None:
    user = client.me
    for target in targets:
        try:
            await server.messages.send(user, target, kind, text, tags, lines)
        except ChatError as exc:
            if kind != "NOTICE":
                reply_error(rb, kind, exc)
            continue
        if kind == "PRIVMSG" and not is_channel(target.lstrip("@+")):
            _away_reply(rb, server.state.session(target))


# -- draft/multiline -------------------------------------------------------------------------


@command("BATCH", min_params=1, help="BATCH +ref draft/multiline target … BATCH -ref  (multi-line messages)")
def batch(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    ref = msg.params[0]
    if ref.startswith("+"):
        if client.batch is not None:
            rb.fail("BATCH", "MULTILINE_INVALID", "Batches cannot be nested")
            return None
        if len(msg.params) < 3 or msg.params[1] != "draft/multiline":
            kind = msg.params[1] if len(msg.params) > 1 else "*"
            rb.fail("BATCH", "UNKNOWN_TYPE", ref[1:], kind, "Unsupported batch type")
            return None
        label = msg.tags.get("label")
        client.batch = MultilineBatch(ref[1:], msg.params[2], client_tags(msg), label)
        rb.label = None  # the label answers the whole batch, with its echo
        return None
    if not ref.startswith("-") or client.batch is None or client.batch.ref != ref[1:]:
        rb.fail("BATCH", "INVALID_REFTAG", ref.lstrip("+-"), "No such open batch")
        return None
    state, client.batch = client.batch, None
    if state.failed:
        return None
    if not any(text for text, _ in state.lines) or any(concat and not text for text, concat in state.lines):
        rb.fail(
            "BATCH", "MULTILINE_INVALID", "Invalid multiline batch with blank lines only or a blank concatenated line"
        )
        return None
    parts: list[str] = []
    for text, concat in state.lines:
        if concat and parts:
            parts[-1] += text
        else:
            parts.append(text)
    rb.label = state.label if state.label and client.render_mask & R_LABELED else None
    return _send_each(
        server, client, [state.target], state.kind or "PRIVMSG", "\n".join(parts), state.tags, rb, tuple(state.lines)
    )


@command("BATCH-LINE")
def batch_line(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    """A line inside an open client batch (dispatched here, not to its own verb)."""
    state = client.batch
    assert state is not None
    if state.failed:
        return None
    verb = msg.command.upper()
    if msg.tags.get("batch") != state.ref or verb not in ("PRIVMSG", "NOTICE") or (state.kind and verb != state.kind):
        state.failed = True
        rb.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch")
        return None
    target = msg.params[0] if msg.params else ""
    if server.state.fold(target) != server.state.fold(state.target):
        state.failed = True
        rb.fail("BATCH", "MULTILINE_INVALID_TARGET", state.target, target, "Invalid multiline target")
        return None
    state.kind = verb
    text = msg.params[1] if len(msg.params) > 1 else ""
    concat = MULTILINE_CONCAT in msg.tags
    state.size += len(text.encode("utf-8")) + (1 if state.lines and not concat else 0)
    state.lines.append((text, concat))
    if too_long_to_relay(client, verb, state.target, [text]):
        state.failed = True
        rb.numeric(N.ERR_INPUTTOOLONG, "Input line was too long to relay: send shorter lines")
    elif len(state.lines) > MULTILINE_MAX_LINES:
        state.failed = True
        rb.fail("BATCH", "MULTILINE_MAX_LINES", str(MULTILINE_MAX_LINES), "Multiline batch max-lines exceeded")
    elif state.size > MULTILINE_MAX_BYTES:
        state.failed = True
        rb.fail("BATCH", "MULTILINE_MAX_BYTES", str(MULTILINE_MAX_BYTES), "Multiline batch max-bytes exceeded")
    return None


# -- REDACT ----------------------------------------------------------------------------------


@command("REDACT", min_params=2, help="REDACT #channel|nick msgid [:reason]  (delete a message)")
def redact(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    reason = msg.params[2] if len(msg.params) > 2 else ""
    return _redact(server, client, msg.params[0], msg.params[1], reason, rb)


async def _redact(server: IrcServer, client: Client, target: str, msgid: str, reason: str, rb: ReplyBuffer) -> None:
    try:
        await server.messages.redact(client.me, target, msgid, reason)
    except (NoSuchChannel, NotOnChannel):
        rb.fail("REDACT", "INVALID_TARGET", target, f"You cannot delete messages from {target}")
    except UnknownMessage:
        rb.fail("REDACT", "UNKNOWN_MSGID", target, msgid, "This message does not exist or is too old")
    except RedactForbidden:
        rb.fail("REDACT", "REDACT_FORBIDDEN", target, msgid, "You are not authorised to delete this message")
