"""irctest controller for lanchat.

Load with ``--controller lanchat_controller`` (this folder on PYTHONPATH).
irctest itself is not part of lanchat; see README.md beside this file.

Environment:
  LANCHAT_BIN              lanchat executable (default: ``lanchat`` on PATH)
  LANCHAT_IRCTEST_DECLARE  "1" (default): declare the features lanchat aims to
                           support, so a missing one fails instead of skipping;
                           "0": declare none (unsupported features are skipped).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any, Dict, FrozenSet, List, Optional, Set, Type, Union

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.cases import BaseServerTestCase
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities, OptionalBehaviors

OPER_NAME = "operuser"
OPER_PASSWORD = "operpassword"

_DECLARE = os.environ.get("LANCHAT_IRCTEST_DECLARE", "1").lower() not in (
    "0",
    "false",
    "no",
)

# Capabilities lanchat is meant to offer. A declared capability that the
# server NAKs fails a test (skip_if_cap_nak=True) instead of skipping it.
DECLARED_CAPABILITIES: FrozenSet[Capabilities] = frozenset(
    (
        Capabilities.ACCOUNT_NOTIFY,
        Capabilities.ACCOUNT_TAG,
        Capabilities.AWAY_NOTIFY,
        Capabilities.BATCH,
        Capabilities.ECHO_MESSAGE,
        Capabilities.EXTENDED_JOIN,
        Capabilities.EXTENDED_MONITOR,
        Capabilities.LABELED_RESPONSE,
        Capabilities.MESSAGE_REDACTION,
        Capabilities.MESSAGE_TAGS,
        Capabilities.MULTILINE,
        Capabilities.MULTI_PREFIX,
        Capabilities.READ_MARKER,
        Capabilities.SERVER_TIME,
        Capabilities.SETNAME,
    )
)

# Optional behaviours lanchat is meant to have: a test skipped for lacking
# one of these fails instead (see irctest's conftest.py).
DECLARED_OPTIONAL_BEHAVIORS: FrozenSet[OptionalBehaviors] = frozenset(
    (
        OptionalBehaviors.BAN_EXCEPTION_MODE,
        OptionalBehaviors.CAP_REQ_MINUS,
        OptionalBehaviors.ELIST_U,
        OptionalBehaviors.INVITE_EXCEPTION_MODE,
        OptionalBehaviors.INVITE_OVERRIDES_LIMIT,
        OptionalBehaviors.MULTI_JOIN,
        OptionalBehaviors.MULTI_KICK,
        OptionalBehaviors.MULTI_PRIVMSG,
        OptionalBehaviors.NO_CTCP,
        OptionalBehaviors.SASL_AFTER_REGISTRATION,
    )
)

# RPL_ISUPPORT tokens checked by isupport.py::testValues (value patterns;
# None means "present without a value").
DECLARED_ISUPPORT: Dict[str, Union[str, patma.Operator, None]] = {
    "BOT": patma.ANYSTR,
    "CASEMAPPING": patma.ANYSTR,
    "CHANTYPES": patma.StrRe(".*#.*"),
    "ELIST": patma.StrRe(".*U.*"),
    "INVEX": patma.ANYOPTSTR,
    "MONITOR": patma.ANYSTR,
    "NETWORK": "testnet",
    "PREFIX": patma.StrRe(r"\([a-z]*o[a-z]*v\)\S*@\S*\+"),
    "STATUSMSG": patma.ANYSTR,
    "TARGMAX": patma.ANYSTR,
    "UTF8ONLY": None,
    "WHOX": None,
}


def _toml_str(value: str) -> str:
    # A JSON string literal (non-ASCII kept as UTF-8, control characters as
    # \uXXXX) is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _lanchat_bin() -> str:
    return os.environ.get("LANCHAT_BIN") or "lanchat"


_oper_hash_cache: Dict[str, str] = {}


def hash_password(password: str) -> str:
    """Hash with ``lanchat hash-password --password-stdin`` (cached per run)."""
    if password not in _oper_hash_cache:
        try:
            out = subprocess.run(
                [_lanchat_bin(), "hash-password", "--password-stdin"],
                input=password.encode(),
                stdout=subprocess.PIPE,
                check=True,
                timeout=60,
            ).stdout.decode()
        except FileNotFoundError:
            raise RuntimeError(
                f"lanchat executable {_lanchat_bin()!r} not found; "
                f"set LANCHAT_BIN or put lanchat on PATH"
            ) from None
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError("lanchat hash-password printed no hash")
        _oper_hash_cache[password] = lines[-1]
    return _oper_hash_cache[password]


class LanchatController(BaseServerController, DirectoryBasedController):
    software_name = "lanchat"
    _port_wait_interval = 0.05
    supported_sasl_mechanisms: Set[str] = {"PLAIN"}
    supports_sts = False
    extban_mute_char: Optional[str] = None

    capabilities = DECLARED_CAPABILITIES if _DECLARE else frozenset()
    optional_behaviors = DECLARED_OPTIONAL_BEHAVIORS if _DECLARE else frozenset()
    isupport = DECLARED_ISUPPORT if _DECLARE else {}

    _config_path: Path
    _data_path: Path
    _command: List[str]

    def create_config(self) -> None:
        super().create_config()
        assert self.directory
        self._config_path = self.directory / "lanchat.toml"
        self._data_path = self.directory / "data"
        self._data_path.mkdir(exist_ok=True)

    def _config_text(
        self, password: Optional[str], websocket_port: Optional[int] = None, tls: Optional[tuple[str, str]] = None
    ) -> str:
        lines = [
            "[server]",
            'name = "My.Little.Server"',
            'network = "testnet"',
            'default_channel = ""',
            "allow_guests = true",
            "nick_length = 32",
            "history_replay = 0",
        ]
        if password is not None:
            lines.append(f"password = {_toml_str(password)}")
        lines += [
            "",
            "[accounts]",
            "argon2_time_cost = 1",
            "argon2_memory_kib = 8192",
            "argon2_parallelism = 1",
            "login_throttle_free = 1000",
            "",
            "[limits]",
            "flood_rate = 0",
            "",
            "[tls]",
            *(
                [f"cert = {_toml_str(tls[0])}", f"key = {_toml_str(tls[1])}", "port = 0"]
                if tls
                else ["enabled = false"]
            ),
            "",
            "[discovery]",
            "enabled = false",
            "",
            "[web]",
            # irctest's websocket tests connect to ws://host:port/ (lanchat serves /irc and /).
            f"enabled = {'true' if websocket_port else 'false'}",
            f"port = {websocket_port or 0}",
            "",
            "[[opers]]",
            f"name = {_toml_str(OPER_NAME)}",
            f"password_hash = {_toml_str(hash_password(OPER_PASSWORD))}",
            "",
        ]
        return "\n".join(lines)

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str] = None,
        websocket_port: Optional[int] = None,
        **kwargs: Any,  # newer irctest arguments (e.g. metadata keys)
    ) -> None:
        assert self.proc is None
        # Loopback only: never let the server listen on the wildcard address.
        if hostname in ("", "0.0.0.0", "::"):
            hostname = "127.0.0.1"
        self.hostname = hostname
        self.port = port
        self.create_config()
        tls: Optional[tuple[str, str]] = None
        if ssl:
            # TLS on the test's port instead of plaintext, with irctest's certificate.
            self.gen_ssl()
            tls = (str(self.pem_path), str(self.key_path))
        self._config_path.write_text(self._config_text(password, websocket_port, tls), encoding="utf-8")

        faketime_cmd: List[str] = []
        if faketime and shutil.which("faketime"):
            faketime_cmd = ["faketime", "-f", faketime]
            self.faketime_enabled = True

        self._command = [
            *faketime_cmd,
            _lanchat_bin(),
            "serve",
            "--config",
            str(self._config_path),
            "--data",
            str(self._data_path),
            "--host",
            hostname,
            *(["--tls-port", str(port), "--irc-port", "0"] if ssl else ["--irc-port", str(port)]),
        ]
        self._start()

    def _start(self) -> None:
        self.proc = self.execute(self._command, proc_name="lanchat")

    def restart(self) -> None:
        self.kill_proc()
        self.port_open = False
        self._start()
        self.wait_for_port()

    def wait_for_services(self) -> None:
        # Accounts are built in: nothing separate to wait for.
        pass

    def registerUser(
        self,
        case: BaseServerTestCase,
        username: str,
        password: Optional[str] = None,
    ) -> None:
        if not case.run_services:
            # Same check as Ergo's controller: only services-marked tests
            # may rely on accounts.
            raise ValueError(
                "Attempted to register a nick, but `run_services` it not True."
            )
        assert password, "lanchat accounts need a password"
        self.wait_for_port()
        result = subprocess.run(
            [
                _lanchat_bin(),
                "user",
                "add",
                username,
                "--password-stdin",
                "--config",
                str(self._config_path),
                "--data",
                str(self._data_path),
            ],
            input=password.encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"lanchat user add {username!r} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )


def get_irctest_controller_class() -> Type[LanchatController]:
    return LanchatController
