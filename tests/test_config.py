"""Configuration: defaults, TOML file, LANCHAT_* environment, flags; errors name the key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lanchat.config import Config, ConfigError, load_config
from tests.conftest import ServerFactory
from tests.ircclient import IrcTestClient


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lanchat.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_reports_port_on_every_interface() -> None:
    config = load_config(None, environ={})
    assert config == Config()
    assert config.irc_port == 10000
    assert config.irc_hosts == ()
    assert config.data_dir == Path("lanchat-data")
    assert config.default_channel == "#general"
    assert config.allow_guests is False
    assert config.nick_length == 32


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[server]\nname = "chat.office.lan"\nnick_length = 20\n[irc]\nport = 6667\nhost = ["127.0.0.1", "::1"]\n',
    )
    from_file = load_config(path, environ={})
    assert from_file.server_name == "chat.office.lan"
    assert from_file.irc_port == 6667
    assert from_file.irc_hosts == ("127.0.0.1", "::1")
    env = {"LANCHAT_IRC_PORT": "7000", "LANCHAT_SERVER_NICK_LENGTH": "24", "LANCHAT_IRC_HOST": "10.0.0.1, 10.0.0.2"}
    from_env = load_config(path, environ=env)
    assert (from_env.irc_port, from_env.nick_length, from_env.irc_hosts) == (7000, 24, ("10.0.0.1", "10.0.0.2"))
    from_flags = load_config(path, environ=env, overrides={"irc_port": 8000, "allow_guests": None})
    assert from_flags.irc_port == 8000
    assert from_flags.allow_guests is False  # a flag not given changes nothing


def test_opers_need_an_argon2_hash(tmp_path: Path) -> None:
    good = _write(
        tmp_path, '[[opers]]\nname = "boss"\npassword_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"\n'
    )
    assert [o.name for o in load_config(good, environ={}).opers] == ["boss"]
    plain = _write(tmp_path, '[[opers]]\nname = "boss"\npassword_hash = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"opers\[0\]\.password_hash"):
        load_config(plain, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[server]\ndefault_channel = "general"\n', "server.default_channel"),
        ("[limits]\nping_interval = -1\n", "limits.ping_interval"),
        ('[storage]\nsynchronous = "sometimes"\n', "storage.synchronous"),
        ("[server]\nnick_length = 3\n", "server.nick_length"),
        ("not toml at all [", "config file"),
        ("[irc]\nport = 1.5\n", "irc.port"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(_write(tmp_path, text), environ={})


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_config(tmp_path / "absent.toml", environ={})


async def test_listens_on_every_configured_address(make_server: ServerFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await make_server(irc_hosts=("127.0.0.1", "127.0.0.2"), irc_port=port)
    assert sorted(server.app.addresses) == [("127.0.0.1", port), ("127.0.0.2", port)]
    for host in ("127.0.0.1", "127.0.0.2"):
        client = await IrcTestClient.connect(port, host)
        server.clients.append(client)
        await client.register(f"via{host[-1]}")


async def test_the_data_folder_is_private(make_server: ServerFactory, tmp_path: Path) -> None:
    server = await make_server(data_dir=tmp_path / "private")
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700
    assert server.config.database_path.stat().st_mode & 0o777 == 0o600
