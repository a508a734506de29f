"""A message the server has echoed to its sender is stored: it survives ``kill -9``; and state
(accounts, channels, memberships) comes back after a restart."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.ircclient import IrcTestClient, find
from tests.process import FAST_CONFIG, ServerProcess, lanchat


async def test_every_echoed_message_survives_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "lanchat.toml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    assert lanchat("user", "add", "ann", "--password-stdin", "--data", str(data), stdin="pw\n").returncode == 0
    assert lanchat("user", "add", "ben", "--password-stdin", "--data", str(data), stdin="pw\n").returncode == 0

    first = ServerProcess(data, config)
    acknowledged: list[str] = []
    try:
        ann = await IrcTestClient.connect(first.port)
        await ann.register("ann", account="ann", password="pw", caps=["echo-message"])
        await ann.send("JOIN #kept")
        # Many messages in flight, then kill -9 as soon as some echoes have arrived.
        await ann.send("".join(f"PRIVMSG #kept :durable {i}\r\n" for i in range(300)).encode())
        await ann.send("".join(f"PRIVMSG ben :offline note {i}\r\n" for i in range(20)).encode())
        while len(acknowledged) < 150:
            msg = await ann.expect("PRIVMSG")
            acknowledged.append(msg.params[1])
        first.signal(signal.SIGKILL)
        try:
            while True:  # echoes already on the wire were acknowledged too
                msg = await ann.recv(timeout=5)
                if msg.command == "PRIVMSG":
                    acknowledged.append(msg.params[1])
        except (ConnectionError, TimeoutError):
            pass
        assert first.wait()[0] == -signal.SIGKILL
    finally:
        first.stop()

    second = ServerProcess(data, config)
    try:
        ann = await IrcTestClient.connect(second.port)
        burst = await ann.register("ann", account="ann", password="pw", caps=["draft/chathistory", "batch"])
        assert "#kept" in [m.params[0] for m in find(burst, "JOIN")]  # membership survived too
        reply = await ann.request("CHATHISTORY LATEST #kept * 1000")
        stored = [m.params[1] for m in find(reply, "PRIVMSG")]
        channel_acks = [text for text in acknowledged if text.startswith("durable")]
        assert channel_acks
        assert set(channel_acks) <= set(stored)
        assert stored == sorted(stored, key=lambda text: int(text.split()[1]))  # in order, no gaps
        assert stored == [f"durable {i}" for i in range(len(stored))]
        dm_acks = [text for text in acknowledged if text.startswith("offline")]
        if dm_acks:
            ben = await IrcTestClient.connect(second.port)
            burst = await ben.register("ben", account="ben", password="pw")
            shown = [m.params[1] for m in find(burst, "PRIVMSG")]
            assert all(any(text in line for line in shown) for text in dm_acks)
    finally:
        second.stop()
