"""``lanchat chat [HOST[:PORT]]``: find or reach the server, check its certificate, log in, chat."""

from __future__ import annotations

import argparse
import asyncio

import zeroconf

from lanchat.client import discovery
from lanchat.client.chat import EXIT_CERTIFICATE, EXIT_FAILURE, Chat
from lanchat.client.commands import DEFAULT_HISTORY
from lanchat.client.connection import DEFAULT_PLAIN_PORT, DEFAULT_TLS_PORT, Endpoint, parse_address
from lanchat.client.link import ConnectionLost, Connector, Link, Unreachable
from lanchat.client.session import events as ev
from lanchat.client.trust import CertificateChanged, KnownServers, Trust, Verdict
from lanchat.client.ui import TerminalUI
from lanchat.proto.names import parse_decimal

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
UNAVAILABLE = "Server is currently unavailable"
BAD_CREDENTIALS = "Username and Password are not valid."


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``lanchat chat``."""
    parser = argparse.ArgumentParser(
        prog="lanchat chat",
        description="Chat on a lanchat server from the terminal. Without an address, look for "
        "lanchat servers on the local network.",
    )
    parser.add_argument(
        "address",
        nargs="?",
        metavar="HOST[:PORT]",
        help=f"the server (port {DEFAULT_TLS_PORT} by default, {DEFAULT_PLAIN_PORT} with --insecure-plaintext)",
    )
    parser.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="connect without TLS: your password and messages cross the network unencrypted",
    )
    parser.add_argument(
        "--accept-new-certificate",
        action="store_true",
        help="trust the server's TLS certificate even though it is not the one trusted before",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=DEFAULT_HISTORY,
        metavar="N",
        help=f"channel messages shown on joining (default {DEFAULT_HISTORY}; 0 for none)",
    )
    parser.add_argument(
        "--browse-seconds",
        type=float,
        default=discovery.BROWSE_SECONDS,
        metavar="S",
        help=f"how long to look for servers on the network (default {discovery.BROWSE_SECONDS:g})",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run ``lanchat chat`` with the arguments after ``chat``; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.history < 0 or args.browse_seconds <= 0:
        TerminalUI().error("lanchat chat: --history must be 0 or more, and --browse-seconds more than 0")
        return EXIT_USAGE
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def run(args: argparse.Namespace) -> int:
    """The whole client: where to connect, connecting, logging in, chatting."""
    ui = TerminalUI()
    endpoints: list[Endpoint] | None = None
    if args.address:
        try:
            endpoints = [parse_address(args.address, tls=not args.insecure_plaintext)]
        except ValueError as exc:
            ui.error(f"lanchat chat: {exc}")
            return EXIT_USAGE
    try:
        if endpoints is None:
            endpoints = await find_server(ui, args.browse_seconds, plaintext=args.insecure_plaintext)
            if endpoints is None:
                return EXIT_FAILURE
        connector = Connector(endpoints, KnownServers(), accept_new=args.accept_new_certificate)
        link, verdict = await connector.open()
        show_connection(ui, link, verdict, connector.known)
        logged_in = await log_in(ui, connector, link)
        if logged_in is not None and verdict is not None:
            connector.known.accept(verdict)  # pinned only now: Ctrl-C at a question pins nothing
    except Unreachable as exc:
        ui.error(f"lanchat: {UNAVAILABLE}: {exc.summary}.")
        return EXIT_FAILURE
    except CertificateChanged as exc:
        for line in exc.explain():
            ui.error(line)
        return EXIT_CERTIFICATE
    except EOFError:
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if logged_in is None:
        return EXIT_FAILURE
    link, account, password = logged_in
    chat = Chat(ui, connector, link, account, password, history_lines=args.history)
    return await chat.run()


async def find_server(ui: TerminalUI, seconds: float, *, plaintext: bool) -> list[Endpoint] | None:
    """Browse the LAN; the only server found, or the one the user picks (``None``: none)."""
    ui.show("Looking for lanchat servers on the local network…")
    hint = "give its address: lanchat chat HOST[:PORT]"
    try:
        servers = await discovery.browse(seconds)
    except (OSError, zeroconf.Error) as exc:
        ui.error(f"lanchat: {UNAVAILABLE}: cannot look for servers on the local network ({exc}); {hint}")
        return None
    usable = [server for server in servers if server.endpoints(plaintext=plaintext)]
    if not servers:
        ui.error(
            f"lanchat: {UNAVAILABLE}: no lanchat server answered on the local network "
            f"(DNS-SD {discovery.TLS_SERVICE} and {discovery.PLAIN_SERVICE}); {hint}"
        )
        return None
    if not usable:
        names = ", ".join(server.describe() for server in servers)
        how = "plaintext" if plaintext else "TLS (use --insecure-plaintext to connect without encryption)"
        ui.error(f"lanchat: {UNAVAILABLE}: the lanchat servers found ({names}) offer no {how}")
        return None
    if len(usable) == 1:
        ui.show(f"Found {usable[0].describe()}")
        return usable[0].endpoints(plaintext=plaintext)
    ui.show("lanchat servers on the local network:")
    for number, server in enumerate(usable, 1):
        ui.show(f"  {number}) {server.describe()}")
    while True:
        answer = (await ui.ask(f"Which server? [1-{len(usable)}] ")).strip()
        picked = parse_decimal(answer)
        if picked is not None and 1 <= picked <= len(usable):
            return usable[picked - 1].endpoints(plaintext=plaintext)
        ui.show(f"Type a number from 1 to {len(usable)}.")


def show_connection(ui: TerminalUI, link: Link, verdict: Verdict | None, known: KnownServers) -> None:
    """Say how we are connected; on first use, show the certificate fingerprint to be pinned
    once the login works."""
    endpoint = link.endpoint
    if verdict is None:
        ui.show(
            f"Connected to {endpoint.address} WITHOUT encryption (--insecure-plaintext): "
            "your password and messages cross the network in clear."
        )
        return
    ui.show(f"Connected to {endpoint.address} with TLS.")
    if verdict.trust is Trust.KNOWN:
        ui.show(f"The server's certificate is the one trusted before ({verdict.fingerprint}).")
        return
    if verdict.trust is Trust.REPLACED:
        ui.show(f"Trusting the server's new certificate (was {verdict.previous}):")
    else:
        ui.show("First connection to this server. Its TLS certificate's SHA-256 fingerprint is:")
    ui.show(f"  {verdict.fingerprint}")
    ui.show("It should match the one `lanchat serve` printed when it started.")
    if endpoint.announced == verdict.fingerprint:
        ui.show("(The LAN announcement gives the same one, but that proves nothing: anyone can announce.)")
    ui.show(f"Once you are logged in, it is trusted for {endpoint.pin_key} (pinned in {known.path}).")


async def log_in(ui: TerminalUI, connector: Connector, link: Link) -> tuple[Link, str, str] | None:
    """``username:`` and ``Password:`` until the server accepts them; ``None`` when logging in
    cannot work. A connection the server dropped meanwhile is opened again."""
    while True:
        account = (await ui.ask("username:")).strip()
        if not account:
            continue
        password = await ui.ask("Password: ", hidden=True)
        outcome: ev.Registered | ev.LoginFailed | None = None
        for _ in range(2):
            try:
                outcome = await link.login(account, password)
                break
            except (ConnectionLost, TimeoutError):
                await link.close()
                link, _verdict = await connector.open()
        if isinstance(outcome, ev.Registered):
            return link, account, password
        if outcome is None or outcome.final:
            await link.close()
            why = f"cannot log in: {outcome.reason}" if outcome else f"{UNAVAILABLE}: the connection keeps closing"
            ui.error(f"lanchat: {why}")
            return None
        ui.show(BAD_CREDENTIALS if outcome.bad_credentials else f"Could not log in: {outcome.reason}")
