"""Server configuration: defaults, then a TOML file, then ``LANCHAT_*`` variables, then flags.

The result is one frozen :class:`Config`, built once in ``cli.py`` and passed in; nothing
reads settings from globals. Every key is declared in :data:`KEYS`; an unknown key or a bad
value raises :class:`ConfigError` with one line naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanchat.proto.names import valid_channel, valid_hostname

DEFAULT_MOTD = (
    "Welcome to lanchat: chat for this network.\n"
    "Type /join #channel to join a channel and /msg NICK text to talk to someone directly."
)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class OperConfig:
    """A server operator: ``OPER name password`` checks the password against the hash."""

    name: str
    password_hash: str


@dataclass(frozen=True)
class Config:
    """Everything the server can be told. Field docs are in README's configuration table."""

    data_dir: Path = Path("lanchat-data")
    server_name: str = "lanchat.local"
    network: str = "lanchat"
    motd: str = DEFAULT_MOTD
    default_channel: str = "#general"
    allow_guests: bool = False
    server_password: str | None = None
    nick_length: int = 32
    history_replay: int = 20
    irc_hosts: tuple[str, ...] = ()
    irc_port: int = 10000
    irc_plaintext: bool = True
    seed_compat: bool = False
    tls_enabled: bool = True
    tls_port: int = 10001
    tls_cert: Path | None = None
    tls_key: Path | None = None
    sts_duration: int = 0
    discovery: bool = True
    web_enabled: bool = True
    web_port: int = 8080
    web_https: bool | None = None
    web_registration: str = "open"
    web_session_days: int = 30
    web_max_upload_mb: int = 25
    web_upload_quota_mb: int = 1024
    web_upload_min_free_mb: int = 1024
    sendq_bytes: int = 1 << 20
    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    registration_timeout: float = 60.0
    flood_burst: int = 100
    flood_rate: float = 20.0
    max_channels: int = 100
    argon2_time_cost: int = 5
    argon2_memory_kib: int = 7168
    argon2_parallelism: int = 1
    login_throttle_free: int = 5
    login_throttle_max_delay: float = 30.0
    sqlite_synchronous: str = "normal"
    log_level: str = "info"
    log_format: str = "human"
    opers: tuple[OperConfig, ...] = field(default_factory=tuple)

    @property
    def database_path(self) -> Path:
        """The SQLite file inside the data folder."""
        return self.data_dir / "lanchat.db"

    @property
    def uploads_dir(self) -> Path:
        """Where shared files are kept."""
        return self.data_dir / "uploads"

    @property
    def web_uses_https(self) -> bool:
        """HTTPS on the web port: as configured, else whenever TLS is on."""
        return self.tls_enabled if self.web_https is None else self.web_https


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _name(value: Any) -> str:
    text = _string(value)
    if not text or any(c in text for c in " \r\n\0:!@"):
        raise ValueError("expected a name without spaces or ':!@'")
    return text


def _hostname(value: Any) -> str:
    text = _string(value)
    if not valid_hostname(text):
        raise ValueError("expected a dotted host name such as chat.office.lan")
    return text


def _optional_path(value: Any) -> Path | None:
    text = _string(value).strip()
    return Path(text) if text else None


def _optional_string(value: Any) -> str | None:
    text = _string(value)
    return text or None


def _channel(value: Any) -> str:
    text = _string(value)
    if text and not valid_channel(text):
        raise ValueError('expected a channel name such as #general, or "" for none')
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ValueError("expected true or false")


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected a whole number") from None
        if isinstance(value, float) and value != number:
            raise ValueError("expected a whole number")
        if not low <= number <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return number

    return parse


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of seconds") from None
    if not 0 < number <= 86400:
        raise ValueError("expected a number of seconds from 0 to 86400")
    return number


def _rate(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None
    if number < 0:
        raise ValueError("expected 0 (off) or a positive number")
    return number


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _string(value).lower()
        if text not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return text

    return parse


def _hosts(value: Any) -> tuple[str, ...]:
    """One address, a list of them, or a comma-separated string; empty means every interface."""
    items = value if isinstance(value, list) else _string(value).split(",")
    hosts = []
    for item in items:
        text = _string(item).strip()
        if text and text != "*":
            hosts.append(text)
    return tuple(hosts)


#: (section, key) in the TOML file -> (Config field, parser). The environment variable of a
#: key is LANCHAT_<SECTION>_<KEY> in upper case, e.g. LANCHAT_IRC_PORT.
KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("server", "data_dir"): ("data_dir", lambda v: Path(_string(v))),
    ("server", "name"): ("server_name", _hostname),
    ("server", "network"): ("network", _name),
    ("server", "motd"): ("motd", _string),
    ("server", "default_channel"): ("default_channel", _channel),
    ("server", "allow_guests"): ("allow_guests", _bool),
    ("server", "password"): ("server_password", _optional_string),
    ("server", "nick_length"): ("nick_length", _int_range(9, 64)),
    ("server", "history_replay"): ("history_replay", _int_range(0, 1000)),
    ("server", "log_level"): ("log_level", _choice("debug", "info", "warning", "error")),
    ("server", "log_format"): ("log_format", _choice("human", "json")),
    ("irc", "host"): ("irc_hosts", _hosts),
    ("irc", "port"): ("irc_port", _int_range(0, 65535)),
    ("irc", "plaintext"): ("irc_plaintext", _bool),
    ("irc", "seed_compat"): ("seed_compat", _bool),
    ("tls", "enabled"): ("tls_enabled", _bool),
    ("tls", "port"): ("tls_port", _int_range(0, 65535)),
    ("tls", "cert"): ("tls_cert", _optional_path),
    ("tls", "key"): ("tls_key", _optional_path),
    ("tls", "sts_duration"): ("sts_duration", _int_range(0, 10 * 365 * 86400)),
    ("discovery", "enabled"): ("discovery", _bool),
    ("web", "enabled"): ("web_enabled", _bool),
    ("web", "port"): ("web_port", _int_range(0, 65535)),
    ("web", "https"): ("web_https", _bool),
    ("web", "registration"): ("web_registration", _choice("open", "closed")),
    ("web", "session_days"): ("web_session_days", _int_range(1, 3650)),
    ("web", "max_upload_mb"): ("web_max_upload_mb", _int_range(1, 10240)),
    ("web", "upload_quota_mb"): ("web_upload_quota_mb", _int_range(0, 1 << 30)),
    ("web", "upload_min_free_mb"): ("web_upload_min_free_mb", _int_range(0, 1 << 30)),
    ("limits", "sendq_bytes"): ("sendq_bytes", _int_range(4096, 1 << 30)),
    ("limits", "ping_interval"): ("ping_interval", _seconds),
    ("limits", "ping_timeout"): ("ping_timeout", _seconds),
    ("limits", "registration_timeout"): ("registration_timeout", _seconds),
    ("limits", "flood_burst"): ("flood_burst", _int_range(0, 1_000_000)),
    ("limits", "flood_rate"): ("flood_rate", _rate),
    ("limits", "max_channels"): ("max_channels", _int_range(1, 10_000)),
    ("accounts", "argon2_time_cost"): ("argon2_time_cost", _int_range(1, 100)),
    ("accounts", "argon2_memory_kib"): ("argon2_memory_kib", _int_range(8, 4 << 20)),
    ("accounts", "argon2_parallelism"): ("argon2_parallelism", _int_range(1, 64)),
    ("accounts", "login_throttle_free"): ("login_throttle_free", _int_range(0, 1_000_000)),
    ("accounts", "login_throttle_max_delay"): ("login_throttle_max_delay", _seconds),
    ("storage", "synchronous"): ("sqlite_synchronous", _choice("normal", "full")),
}


def env_name(section: str, key: str) -> str:
    """The environment variable for a config key."""
    return f"LANCHAT_{section}_{key}".upper()


def _parse(section: str, key: str, value: Any, values: dict[str, Any]) -> None:
    entry = KEYS.get((section, key))
    if entry is None:
        raise ConfigError(f"{section}.{key}: unknown setting")
    name, parser = entry
    try:
        values[name] = parser(value)
    except ValueError as exc:
        raise ConfigError(f"{section}.{key}: {exc} (got {value!r})") from None


def _parse_opers(raw: Any) -> tuple[OperConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("opers: expected a list of [[opers]] tables")
    opers = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"name", "password_hash"}:
            raise ConfigError(f"opers[{i}]: expected exactly name and password_hash")
        try:
            name = _name(item["name"])
            password_hash = _string(item["password_hash"])
        except ValueError as exc:
            raise ConfigError(f"opers[{i}]: {exc}") from None
        if not password_hash.startswith("$argon2"):
            raise ConfigError(f"opers[{i}].password_hash: expected an argon2 hash (lanchat hash-password)")
        opers.append(OperConfig(name, password_hash))
    return tuple(opers)


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config from a TOML file, the environment and command-line overrides.

    ``overrides`` maps Config field names to already-typed values (from flags); None values
    are ignored.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for section, table in data.items():
            if section == "opers":
                values["opers"] = _parse_opers(table)
                continue
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: unknown setting")
            for key, value in table.items():
                _parse(section, key, value, values)
    environ = os.environ if environ is None else environ
    for (section, key), _ in KEYS.items():
        value = environ.get(env_name(section, key))
        if value is not None:
            _parse(section, key, value, values)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    config = Config(**values)
    if not config.irc_plaintext and not config.tls_enabled:
        raise ConfigError("irc.plaintext: plaintext and TLS are both off: nothing to listen on")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls.cert: set both tls.cert and tls.key, or neither (a self-signed pair is made)")
    if config.sts_duration and not config.tls_enabled:
        raise ConfigError("tls.sts_duration: STS needs TLS (tls.enabled = true)")
    if config.web_https and not config.tls_enabled:
        raise ConfigError("web.https: HTTPS uses the TLS certificate: set tls.enabled = true")
    return config
