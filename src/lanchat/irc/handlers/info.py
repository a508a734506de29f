"""Server information: LUSERS, MOTD, VERSION, TIME, INFO, HELP, LINKS."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lanchat.irc.client import Client
from lanchat.irc.commands import COMMANDS, Reply, command
from lanchat.irc.replies import Numeric, ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer


def send_lusers(server: IrcServer, rb: ReplyBuffer) -> None:
    """251-255, 265, 266."""
    # Counted as they change, not by a scan, and written out directly (every parameter is a
    # number, the nick or fixed text): this runs at every registration.
    total = len(server.state.sessions)
    invisible = server.state.user_mode_counts["i"]
    opers = server.state.user_mode_counts["o"]
    unknown = len(server.registering)  # a connection being closed counts until it is gone
    peak = max(server.state.max_sessions, total)
    users = total - invisible
    src, nick = server.name, rb.nick
    rb.lines += [
        line.encode("utf-8", "surrogateescape")
        for line in (
            f":{src} {N.RPL_LUSERCLIENT} {nick} :There are {users} users and {invisible} invisible on 1 servers\r\n",
            f":{src} {N.RPL_LUSEROP} {nick} {opers} :operator(s) online\r\n",
            f":{src} {N.RPL_LUSERUNKNOWN} {nick} {unknown} :unknown connection(s)\r\n",
            f":{src} {N.RPL_LUSERCHANNELS} {nick} {len(server.state.channels)} :channels formed\r\n",
            f":{src} {N.RPL_LUSERME} {nick} :I have {total} clients and 1 servers\r\n",
            f":{src} {N.RPL_LOCALUSERS} {nick} {total} {peak} :Current local users {total}, max {peak}\r\n",
            f":{src} {N.RPL_GLOBALUSERS} {nick} {total} {peak} :Current global users {total}, max {peak}\r\n",
        )
    ]


def motd_numerics(server: IrcServer) -> list[Numeric]:
    """375, 372…, 376 — or 422 when there is no message of the day."""
    text = server.config.motd.strip("\n")
    if not text:
        return [(N.ERR_NOMOTD, ["MOTD File is missing"])]
    return [
        (N.RPL_MOTDSTART, [f"- {server.name} Message of the day -"]),
        *((N.RPL_MOTD, [f"- {line}"]) for line in text.split("\n")),
        (N.RPL_ENDOFMOTD, ["End of /MOTD command."]),
    ]


def isupport_numerics(server: IrcServer, filehost: str | None) -> list[Numeric]:
    """The 005 lines, at most 13 tokens each; ``filehost``: this connection's upload URL."""
    tokens = server.isupport if filehost is None else [*server.isupport, "draft/FILEHOST=" + filehost]
    return [(N.RPL_ISUPPORT, [*tokens[i : i + 13], "are supported by this server"]) for i in range(0, len(tokens), 13)]


def send_motd(server: IrcServer, rb: ReplyBuffer) -> None:
    """The message of the day."""
    for code, params in motd_numerics(server):
        rb.numeric(code, *params)


def send_isupport(server: IrcServer, rb: ReplyBuffer) -> None:
    """The 005 lines for this connection."""
    filehost = server.filehost(rb.client.link) if server.filehost is not None else None
    for code, params in isupport_numerics(server, filehost):
        rb.numeric(code, *params)


@command("LUSERS", help="LUSERS: how many users, channels and operators there are")
def lusers(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    send_lusers(server, rb)
    return None


@command("MOTD", help="MOTD: the message of the day")
def motd(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if msg.params and server.state.fold(msg.params[0]) != server.state.fold(server.name):
        rb.numeric(N.ERR_NOSUCHSERVER, msg.params[0], "No such server")
        return None
    send_motd(server, rb)
    return None


@command("VERSION", help="VERSION: the server's software version and features")
def version(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    rb.numeric(N.RPL_VERSION, server.version, server.name, "lanchat: chat for a local network")
    send_isupport(server, rb)
    return None


@command("TIME", help="TIME: the server's clock")
def time_(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    now = time.time()
    human = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now))
    rb.numeric(N.RPL_TIME, server.name, str(int(now)), human)
    return None


@command("INFO", help="INFO: about this server")
def info(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(server.created))
    for line in (
        f"{server.version}: self-hosted chat for a local network.",
        "Speaks IRC with IRCv3; web and terminal clients included.",
        f"Running since {started}.",
    ):
        rb.numeric(N.RPL_INFO, line)
    rb.numeric(N.RPL_ENDOFINFO, "End of /INFO list")
    return None


@command("LINKS", help="LINKS: servers in this network (just this one)")
def links(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    rb.numeric("365", "*", "End of /LINKS list")
    return None


@command("HELP", pre_registration=True, aliases=("HELPOP",), help="HELP [command]: how to use a command")
def help_(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params:
        subject = "*"
        rb.numeric(N.RPL_HELPSTART, subject, "lanchat help: the commands this server knows")
        names = sorted(n for n, c in COMMANDS.items() if c.help and not n.startswith("BATCH-"))
        for i in range(0, len(names), 8):
            rb.numeric(N.RPL_HELPTXT, subject, " ".join(names[i : i + 8]))
        rb.numeric(N.RPL_ENDOFHELP, subject, "Use HELP <command> for details")
        return None
    subject = msg.params[0]
    entry = COMMANDS.get(subject.upper())
    if entry is None or not entry.help:
        rb.numeric(N.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return None
    rb.numeric(N.RPL_HELPSTART, subject, entry.name)
    rb.numeric(N.RPL_HELPTXT, subject, entry.help)
    rb.numeric(N.RPL_ENDOFHELP, subject, "End of /HELP")
    return None
