"""The fan-out mechanism itself: one rendering per capability set, the same bytes object queued
to every recipient, and one write per connection per event-loop iteration.

These tests look inside the delivery path, so they use recording links in place of sockets;
everything else (clients, users, outbox, renderer) is the real code.
"""

from __future__ import annotations

import asyncio
import time

from lanchat.core.events import MessageSent, StoredMessage
from lanchat.core.model import Actor, Channel
from lanchat.irc.client import Client, User
from lanchat.irc.delivery import Delivery
from lanchat.irc.outbox import FLUSH_PACING, MAX_FLUSH_PAUSE, Outbox


class RecordingLink:
    """Stands in for a socket: records each write."""

    peer_ip = "127.0.0.1"
    local_ip = "127.0.0.1"
    secure = False
    transport_name = "test"

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []

    def write_lines(self, lines: list[bytes]) -> None:
        self.writes.append(list(lines))

    def close(self, reason: str) -> None:
        raise AssertionError("not expected to close")


def _user(outbox: Outbox, nick: str, caps: list[str]) -> tuple[User, RecordingLink]:
    link = RecordingLink()
    client = Client(link, outbox, nick, "127.0.0.1")
    client.user = "~" + nick
    client.set_caps(caps, [])
    user = User(client, nick, nick)
    client.session = user
    return user, link


def _message(n: int, sender: User | None = None) -> MessageSent:
    record = StoredMessage(
        f"id{n}",
        1_700_000_000_000 + n,
        "PRIVMSG",
        sender.actor if sender is not None else Actor("alice", "~a", "host", "alice"),
        "#room",
        "#room",
        f"hello {n}",
    )
    return MessageSent(record)


async def test_one_rendering_per_capability_set_shared_by_every_recipient() -> None:
    outbox = Outbox()
    delivery = Delivery(outbox, {})
    plain = [_user(outbox, f"p{i}", []) for i in range(50)]
    tagged = [_user(outbox, f"t{i}", ["message-tags", "server-time"]) for i in range(50)]
    recipients = [u for u, _ in plain + tagged]
    delivery(_message(1), recipients, None)
    queued_plain = {id(u.conn.outq[0]) for u, _ in plain}
    queued_tagged = {id(u.conn.outq[0]) for u, _ in tagged}
    assert len(queued_plain) == 1  # the very same bytes object for all 50
    assert len(queued_tagged) == 1
    assert plain[0][0].conn.outq[0] == b":alice!~a@host PRIVMSG #room :hello 1\r\n"
    assert tagged[0][0].conn.outq[0].startswith(b"@time=2023-11-14T22:13:20.001Z;msgid=id1 ")


async def test_each_connection_is_written_once_per_loop_iteration() -> None:
    outbox = Outbox()
    delivery = Delivery(outbox, {})
    users = [_user(outbox, f"u{i}", []) for i in range(20)]
    for n in range(10):  # ten messages in the same iteration
        delivery(_message(n), [u for u, _ in users], None)
    assert all(link.writes == [] for _, link in users)  # nothing written yet
    await asyncio.sleep(0)  # the scheduled flush runs
    for _, link in users:
        assert len(link.writes) == 1
        assert [line.split(b" :")[-1] for line in link.writes[0]] == [f"hello {n}\r\n".encode() for n in range(10)]
    delivery(_message(99), [users[0][0]], None)
    for _ in range(100):  # the next flush may be paced by the cost of the previous one
        if len(users[0][1].writes) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(users[0][1].writes) == 2
    assert len(users[1][1].writes) == 1


class SlowLink(RecordingLink):
    """A link whose writes take a while (a big flush), noting when each one ended."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.ended: list[float] = []

    def write_lines(self, lines: list[bytes]) -> None:
        time.sleep(self.seconds)
        super().write_lines(lines)
        self.ended.append(time.perf_counter())


async def test_a_long_flush_is_followed_by_a_pause_of_at_most_the_cap() -> None:
    outbox = Outbox()
    link = SlowLink(0.15)  # FLUSH_PACING alone would then wait 0.45 s
    client = Client(link, outbox, "slow", "127.0.0.1")
    outbox.queue(client, b"one\r\n")
    for _ in range(100):
        if link.ended:
            break
        await asyncio.sleep(0.005)
    outbox.queue(client, b"two\r\n")
    for _ in range(200):
        if len(link.ended) == 2:
            break
        await asyncio.sleep(0.005)
    assert link.writes == [[b"one\r\n"], [b"two\r\n"]]
    started_second = link.ended[1] - link.seconds
    pause = started_second - link.ended[0]
    assert MAX_FLUSH_PAUSE * 0.8 <= pause < FLUSH_PACING * link.seconds / 2, pause


def _send_to_channel(delivery: Delivery, channel: Channel, sender: User, n: int) -> None:
    """What MessageService does for a message to a channel: everyone in it but the sender."""
    recipients = [m for m in channel.members if m is not sender]
    delivery(_message(n, sender), recipients, sender)


def _texts(user: User) -> list[bytes]:
    return [line.split(b" :", 1)[-1] for line in user.conn.outq]


async def test_channel_queues_follow_joins_parts_capabilities_and_extra_connections() -> None:
    outbox = Outbox()
    channel = Channel("#room", "#room")
    delivery = Delivery(outbox, {channel.key: channel})
    alice, _ = _user(outbox, "alice", [])
    members = [_user(outbox, f"m{i}", []) for i in range(5)]
    for user in [alice] + [u for u, _ in members]:
        channel.add_member(user, "")

    _send_to_channel(delivery, channel, alice, 1)
    assert [_texts(u) for u, _ in members] == [[b"hello 1\r\n"]] * 5
    assert len({id(u.conn.outq[0]) for u, _ in members}) == 1  # the same bytes object for all
    assert _texts(alice) == [b"hello 1\r\n"]  # the sender's copy, once (its echo path)

    late, _ = _user(outbox, "late", [])
    channel.add_member(late, "")
    gone = members[0][0]
    channel.remove_member(gone)
    _send_to_channel(delivery, channel, alice, 2)  # after a join and a part
    assert _texts(late) == [b"hello 2\r\n"]
    assert _texts(gone) == [b"hello 1\r\n"]

    members[1][0].conn.set_caps(["server-time"], [])
    _send_to_channel(delivery, channel, alice, 3)  # after a capability change
    assert members[1][0].conn.outq[-1].startswith(b"@time=")
    assert members[2][0].conn.outq[-1] == b":alice!~alice@127.0.0.1 PRIVMSG #room :hello 3\r\n"

    second = Client(RecordingLink(), outbox, "alice2", "127.0.0.1")
    second.user = "~alice"
    alice.attach(second)
    bob_too = Client(RecordingLink(), outbox, "m2b", "127.0.0.1")
    members[2][0].attach(bob_too)
    _send_to_channel(delivery, channel, alice, 4)  # after users got a second connection
    assert [line.split(b" :", 1)[-1] for line in bob_too.outq] == [b"hello 4\r\n"]
    assert [line.split(b" :", 1)[-1] for line in second.outq] == [b"hello 4\r\n"]
    assert _texts(alice) == [f"hello {n}\r\n".encode() for n in range(1, 5)]
    assert [_texts(u) for u, _ in members[2:]] == [[f"hello {n}\r\n".encode() for n in range(1, 5)]] * 3


async def test_recipients_other_than_the_whole_channel_are_fanned_out_one_by_one() -> None:
    outbox = Outbox()
    channel = Channel("#room", "#room")
    delivery = Delivery(outbox, {channel.key: channel})
    alice, _ = _user(outbox, "alice", [])
    bob, _ = _user(outbox, "bob", [])
    carol, _ = _user(outbox, "carol", [])
    for user in (alice, bob, carol):
        channel.add_member(user, "")
    delivery(_message(1, alice), [bob], alice)  # e.g. a message to the channel's ops only
    assert _texts(bob) == [b"hello 1\r\n"]
    assert carol.conn.outq == []
