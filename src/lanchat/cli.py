"""``lanchat serve | user … | import-seed | hash-password``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lanchat import __version__
from lanchat.config import Config, ConfigError, load_config

T = TypeVar("T")

EXIT_USAGE = 2
EXIT_FAILURE = 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser.add_argument("--data", type=Path, metavar="DIR", help="data folder (default ./lanchat-data)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(prog="lanchat", description="Self-hosted chat for a local network, speaking IRC.")
    parser.add_argument("--version", action="version", version=f"lanchat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser("serve", help="run the server", description="Run the chat server.")
    _common(serve)
    serve.add_argument(
        "--host", metavar="ADDR", action="append", help="address to listen on, repeatable (default: every interface)"
    )
    serve.add_argument("--irc-port", type=int, metavar="N", help="IRC port (default 10000)")
    serve.add_argument("--tls-port", type=int, metavar="N", help="IRC over TLS port (default 10001)")
    serve.add_argument("--web-port", type=int, metavar="N", help="web client port (default 8080)")
    serve.add_argument("--log-format", choices=["human", "json"], help="diagnostics as text (default) or JSON lines")
    serve.add_argument(
        "--seed-compat", action="store_true", default=None, help="also accept the report's own client on the IRC port"
    )
    serve.add_argument("--allow-guests", action="store_true", default=None, help="let people chat without an account")

    user = commands.add_parser("user", help="manage accounts", description="Manage accounts.")
    actions = user.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="create an account", description="Create an account.")
    _common(add)
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--admin", action="store_true", help="make it an admin (may use OPER with its password)")
    passwd = actions.add_parser("passwd", help="set an account's password", description="Set an account's password.")
    _common(passwd)
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    delete = actions.add_parser("del", help="delete an account", description="Delete an account.")
    _common(delete)
    delete.add_argument("name")
    listing = actions.add_parser("list", help="list accounts", description="List accounts.")
    _common(listing)
    admin = actions.add_parser("admin", help="grant or revoke admin", description="Grant or revoke admin.")
    _common(admin)
    admin.add_argument("name")
    admin.add_argument("state", choices=["on", "off"])

    seed = commands.add_parser(
        "import-seed",
        help="import the report's chat_users.db",
        description="Import the users of the report's chat_users.db; they keep their passwords.",
    )
    _common(seed)
    seed.add_argument("path", type=Path, metavar="PATH/chat_users.db")

    commands.add_parser(
        "chat",
        help="chat from the terminal (lanchat chat --help)",
        description="Chat on a lanchat server from the terminal.",
        add_help=False,
    )

    backup = commands.add_parser(
        "backup",
        help="copy the database, also while the server runs",
        description="Take a consistent copy of the database (SQLite online backup); safe while the server runs.",
    )
    _common(backup)
    backup.add_argument("destination", type=Path, metavar="DEST", help="a file name, or a folder to put it in")
    restore = commands.add_parser(
        "restore",
        help="put a backup back (server stopped)",
        description="Replace the database with a backup (stop the server first); the current one is kept beside it.",
    )
    _common(restore)
    restore.add_argument("source", type=Path, metavar="BACKUP")

    hashpw = commands.add_parser(
        "hash-password",
        help="print an argon2id hash for an [[opers]] entry",
        description="Print an argon2id hash of a password, for password_hash in [[opers]].",
    )
    _common(hashpw)
    hashpw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {"data_dir": getattr(args, "data", None)}
    if args.command == "serve":
        hosts = tuple(args.host) if args.host else None
        overrides.update(
            irc_hosts=hosts,
            irc_port=args.irc_port,
            tls_port=args.tls_port,
            web_port=args.web_port,
            log_format=args.log_format,
            allow_guests=args.allow_guests,
            seed_compat=args.seed_compat,
        )
        for flag, port in (("--irc-port", args.irc_port), ("--tls-port", args.tls_port), ("--web-port", args.web_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{flag}: expected a number from 0 to 65535 (got {port})")
    return load_config(getattr(args, "config", None), overrides=overrides)


def _read_password(from_stdin: bool) -> str:
    """The password from the first line of standard input, or typed twice at the terminal.
    Raises ValueError (shown as a usage error) for an empty one or one that is not UTF-8."""
    if from_stdin:
        # Bytes, decoded strictly: the text layer would turn bytes that are not UTF-8 (a
        # Latin-1 file, a C locale) into surrogates that no hash can take.
        raw = sys.stdin.buffer.readline().removesuffix(b"\n").removesuffix(b"\r")
        try:
            password = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the password is not UTF-8 text (check the input's encoding)") from None
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except UnicodeDecodeError:
            raise ValueError("the password is not valid text in the terminal's encoding") from None
        if again != password:
            raise ValueError("the passwords do not match")
    if not password:
        raise ValueError("the password is empty")
    return password


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_factory()

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "chat":
        from lanchat.client.app import main as chat

        return chat(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"lanchat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        return _serve(config)
    if args.command == "hash-password":
        from lanchat.app import make_hasher

        try:
            password = _read_password(args.password_stdin)
        except ValueError as exc:
            print(f"lanchat: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(make_hasher(config).hash(password))
        return 0
    if args.command in ("backup", "restore"):
        return _backup_or_restore(config, args)
    try:
        if args.command == "import-seed":
            return _run(lambda: _import_seed(config, args.path))
        return _run(lambda: _user(config, args))
    except ValueError as exc:
        print(f"lanchat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the data folder cannot be made or read
        print(f"lanchat: {_os_error_text(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def _os_error_text(exc: OSError) -> str:
    """An OSError in a line: the file it is about (if any) and what went wrong."""
    text = exc.strerror or str(exc)
    return f"{exc.filename}: {text}" if exc.filename else text


def _serve(config: Config) -> int:
    from lanchat.app import App
    from lanchat.logs import setup_logging
    from lanchat.net.tls import TlsError
    from lanchat.store.backup import BackupError

    setup_logging(config.log_level, config.log_format)
    _raise_file_limit()
    app = App(config)
    try:
        import uvloop

        run: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        run(app.run())
    except OSError as exc:
        print(f"lanchat: cannot start: {_os_error_text(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except (TlsError, BackupError) as exc:
        print(f"lanchat: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _backup_or_restore(config: Config, args: argparse.Namespace) -> int:
    from lanchat.store.backup import BackupError, DataLock, backup, restore

    try:
        if args.command == "backup":
            path = backup(config.database_path, args.destination)
            print(f"backup written to {path} ({path.stat().st_size} bytes)")
        else:
            kept = restore(args.source, config.database_path, DataLock(config.data_dir))
            print(f"restored {args.source} to {config.database_path}")
            if kept is not None:
                print(f"the database it replaced is kept as {kept}")
    except BackupError as exc:
        print(f"lanchat: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _raise_file_limit() -> None:
    """Allow as many open connections as the system lets this process have."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:  # a sandbox's seccomp filter may refuse it
            logging.getLogger("lanchat").warning(
                "cannot raise the open-file limit from %d to %d (%s): at most ~%d connections", soft, hard, exc, soft
            )


async def _user(config: Config, args: argparse.Namespace) -> int:
    from lanchat.app import make_accounts, make_store
    from lanchat.core.errors import AccountExists, InvalidAccountName

    store = make_store(config)
    await store.open()
    accounts = make_accounts(config, store, None)
    try:
        action = args.action
        if action == "list":
            for record in await store.list_accounts():
                flags = " (admin)" if record.admin else ""
                seen = (
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(record.last_seen_ms / 1000))
                    if record.last_seen_ms
                    else "never"
                )
                print(f"{record.name}{flags}  last seen: {seen}")
            return 0
        key = accounts.key(args.name)
        if action == "add":
            password = _read_password(args.password_stdin)
            try:
                await accounts.create(args.name, password, admin=args.admin)
            except (AccountExists, InvalidAccountName) as exc:
                print(f"lanchat: {args.name}: {exc.detail}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"account {args.name} created" + (" (admin)" if args.admin else ""))
            return 0
        if action == "passwd":
            if await store.get_account(key) is None:
                return _no_account(args.name)
            await accounts.set_password(args.name, _read_password(args.password_stdin))
            print(f"password of {args.name} changed")
            return 0
        if action == "del":
            if not await store.delete_account(key):
                return _no_account(args.name)
            print(f"account {args.name} deleted")
            return 0
        if action == "admin":
            if not await store.set_admin(key, args.state == "on"):
                return _no_account(args.name)
            print(f"{args.name} is {'now' if args.state == 'on' else 'no longer'} an admin")
            return 0
        raise AssertionError(action)
    finally:
        await store.close()


def _no_account(name: str) -> int:
    print(f"lanchat: {name}: no such account", file=sys.stderr)
    return EXIT_FAILURE


async def _import_seed(config: Config, path: Path) -> int:
    from lanchat.app import make_store
    from lanchat.core.ports import AccountRecord
    from lanchat.proto.names import casefold, valid_account_name
    from lanchat.store.seed import SeedError, read_seed_users

    try:
        users, problems = read_seed_users(path)
    except SeedError as exc:
        print(f"lanchat: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    store = make_store(config)
    await store.open()
    imported = existing = 0
    try:
        now = int(time.time() * 1000)
        for user in users:
            if not valid_account_name(user.name, config.nick_length):
                problems.append(f"{user.name!r}: not usable as an account name (letters, digits, -_[]{{}}\\|^` only)")
                continue
            record = AccountRecord(user.name, casefold(user.name), user.password_hash, created_ms=now)
            if await store.add_account(record):
                imported += 1
            else:
                existing += 1
    finally:
        await store.close()
    for line in problems:
        print(f"skipped {line}", file=sys.stderr)
    print(f"imported {imported} account(s); {existing} already existed; {len(problems)} skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
