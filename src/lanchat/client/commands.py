"""What the user typed: chat text or a slash command, parsed into a typed record (pure)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from lanchat.proto.names import parse_decimal

#: Lines of history ``/history`` shows when no number is given.
DEFAULT_HISTORY = 20


@dataclass(frozen=True, slots=True)
class CommandHelp:
    """How a command is written and what it does."""

    usage: str
    summary: str


COMMANDS: dict[str, CommandHelp] = {
    "join": CommandHelp("/join #channel [key]", "join a channel and talk there"),
    "part": CommandHelp("/part [#channel] [reason]", "leave a channel (default: the current conversation)"),
    "msg": CommandHelp("/msg NICK text", "send a direct message (or /msg #channel text)"),
    "me": CommandHelp("/me text", "say what you are doing (* alice waves)"),
    "who": CommandHelp("/who [#channel|NICK]", "who is in the channel, or who someone is"),
    "topic": CommandHelp("/topic [text]", "show the channel's topic, or set it"),
    "away": CommandHelp("/away [reason]", "mark yourself away; without a reason, back again"),
    "history": CommandHelp("/history [N]", f"show the last N messages here (default {DEFAULT_HISTORY})"),
    "switch": CommandHelp("/switch [NUMBER|#channel|NICK]", "change the current conversation (no argument: list)"),
    "quit": CommandHelp("/quit [reason]", "leave the chat"),
    "help": CommandHelp("/help [command]", "this list, or one command's help"),
}
ALIASES = {"exit": "quit", "leave": "part", "query": "switch", "j": "join", "names": "who"}
#: Key bindings, for /help.
KEYS = (
    ("Ctrl-N / Ctrl-P", "next / previous conversation"),
    ("Up / Down", "earlier lines you typed"),
    ("Ctrl-D", "quit"),
)


@dataclass(frozen=True, slots=True)
class Say:
    """Text for the current conversation."""

    text: str


@dataclass(frozen=True, slots=True)
class Join:
    """``/join #channel [key]``."""

    channel: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    """``/part [#channel] [reason]``; ``target`` ``None`` means the current conversation."""

    target: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Msg:
    """``/msg NICK text``."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Me:
    """``/me text``."""

    text: str


@dataclass(frozen=True, slots=True)
class Who:
    """``/who [target]``."""

    target: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """``/topic [text]``: ``None`` asks for the topic."""

    text: str | None = None


@dataclass(frozen=True, slots=True)
class Away:
    """``/away [reason]``: ``None`` means back."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """``/history [N]``."""

    limit: int = DEFAULT_HISTORY


@dataclass(frozen=True, slots=True)
class Switch:
    """``/switch [which]``: ``None`` lists the conversations."""

    which: str | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    """``/quit [reason]``."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Help:
    """``/help [command]``."""

    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A slash command that does not exist, with the closest existing one if any."""

    name: str
    suggestion: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """A known command written wrongly: say how it is used."""

    command: str
    problem: str


Input = Say | Join | Part | Msg | Me | Who | Topic | Away | History | Switch | Quit | Help | Unknown | Usage


def parse_input(line: str, channel_prefixes: str = "#") -> Input | None:
    """Parse one input line; ``None`` for a blank line. ``//text`` sends ``/text`` as chat."""
    if not line.strip():
        return None
    if line.startswith("//") or not line.startswith("/"):
        return Say(line[1:] if line.startswith("//") else line)
    word, _, rest = line[1:].partition(" ")
    name = word.lower()
    name = ALIASES.get(name, name)
    rest = rest.strip()
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
        return Unknown(word, close[0] if close else None)
    return _parse_command(name, rest, channel_prefixes)


def _parse_command(name: str, rest: str, prefixes: str) -> Input:
    args = rest.split()
    if name == "join":
        if not args:
            return Usage(name, "which channel?")
        channel = args[0] if args[0][0] in prefixes else prefixes[0] + args[0]
        return Join(channel, args[1] if len(args) > 1 else None)
    if name == "part":
        if args and args[0][0] in prefixes:
            return Part(args[0], rest[len(args[0]) :].strip())
        return Part(None, rest)
    if name == "msg":
        target, _, text = rest.partition(" ")
        if not target or not text.strip():
            return Usage(name, "give a nick (or #channel) and the text")
        return Msg(target, text.strip())
    if name == "me":
        return Me(rest) if rest else Usage(name, "what are you doing?")
    if name == "who":
        return Who(args[0] if args else None)
    if name == "topic":
        return Topic(rest or None)
    if name == "away":
        return Away(rest or None)
    if name == "history":
        if not args:
            return History()
        count = parse_decimal(args[0])
        if count is None or count < 1:
            return Usage(name, "N is a number of messages, 1 or more")
        return History(count)
    if name == "switch":
        return Switch(args[0] if args else None)
    if name == "quit":
        return Quit(rest)
    return Help(args[0].lstrip("/").lower() if args else None)


def help_lines(topic: str | None = None) -> list[str]:
    """The text ``/help`` shows."""
    if topic is not None:
        name = ALIASES.get(topic, topic)
        entry = COMMANDS.get(name)
        if entry is None:
            return [f"No command /{topic}. Type /help for the list."]
        return [f"{entry.usage}  —  {entry.summary}"]
    width = max(len(entry.usage) for entry in COMMANDS.values())
    lines = ["Commands:"]
    lines += [f"  {entry.usage.ljust(width)}  {entry.summary}" for entry in COMMANDS.values()]
    lines.append("Keys:")
    lines += [f"  {keys.ljust(width)}  {what}" for keys, what in KEYS]
    lines.append("Anything else you type is sent to the current conversation (start it with // to send a /).")
    return lines


def unknown_hint(command: Unknown) -> str:
    """The hint for an unknown command."""
    guess = f" Did you mean /{command.suggestion}?" if command.suggestion else ""
    return f"Unknown command /{command.name}.{guess} Type /help for the list of commands."
