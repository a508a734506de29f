"""draft/chathistory, history replay on JOIN, and draft/read-marker, end to end.

The chathistory expectations are irctest's (see /work/notes/irctest-report.md §6
"chathistory"): ten messages m0..m9, bounds exclusive, results oldest first, the limit
taking the messages nearest the reference.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lanchat.proto.message import Message
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, commands, find, mask, wait_offline

SERVER = "lanchat.local"
HISTORY_CAPS = ["message-tags", "server-time", "echo-message", "batch", "labeled-response", "draft/chathistory"]
MARKER_CAPS = ["draft/read-marker"]


def texts(messages: list[Message]) -> list[str]:
    """The text of each message."""
    return [m.params[-1] for m in messages]


def by_msgid(echo: Message) -> str:
    """A ``msgid=`` reference to a message."""
    return "msgid=" + echo.tags["msgid"]


def by_time(echo: Message) -> str:
    """A ``timestamp=`` reference to a message."""
    return "timestamp=" + echo.tags["time"]


def iso(moment: datetime) -> str:
    """server-time format."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def shifted(stamp: str, seconds: float) -> str:
    """A server-time string moved by some seconds."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return iso(moment + timedelta(seconds=seconds))


async def echo_of(client: IrcTestClient, line: str) -> Message:
    """Send a message with echo-message on and return its echo."""
    reply = await client.request(line)
    mine = client.nick + "!"
    echoes = [m for m in reply if m.command in ("PRIVMSG", "NOTICE", "TAGMSG") and (m.source or "").startswith(mine)]
    assert len(echoes) == 1, reply
    return echoes[0]


async def history(client: IrcTestClient, line: str, target: str | None = None) -> list[Message]:
    """Run a CHATHISTORY query; check the ``chathistory`` batch and return what is inside."""
    reply = await client.request(line)
    assert len(reply) >= 2, reply
    start, *inner, end = reply
    assert start.command == "BATCH", reply
    ref = start.params[0][1:]
    assert start.params[0] == "+" + ref
    expected_target = target if target is not None else line.split()[2]
    assert start.params[1:] == ["chathistory", expected_target]
    assert (end.command, end.params) == ("BATCH", ["-" + ref])
    assert all(m.tags.get("batch") == ref for m in inner), inner
    return inner


async def ten_messages(server: RunningServer) -> tuple[IrcTestClient, list[Message]]:
    """alice in #chan with history caps, after sending m0..m9; returns her and the echoes."""
    alice = await server.user("alice", caps=HISTORY_CAPS)
    await alice.request("JOIN #chan")
    echoes = [await echo_of(alice, f"PRIVMSG #chan :m{i}") for i in range(10)]
    return alice, echoes


def names(*numbers: int) -> list[str]:
    """["m3", "m4", …]."""
    return [f"m{i}" for i in numbers]


# -- CHATHISTORY queries -----------------------------------------------------------------------


async def test_latest_star_returns_the_newest_messages_oldest_first(server: RunningServer) -> None:
    alice, _ = await ten_messages(server)

    assert texts(await history(alice, "CHATHISTORY LATEST #chan * 20")) == names(*range(10))
    assert texts(await history(alice, "CHATHISTORY LATEST #chan * 5")) == names(5, 6, 7, 8, 9)
    assert texts(await history(alice, "CHATHISTORY LATEST #chan * 1")) == names(9)


async def test_latest_with_a_msgid_returns_what_came_after_it(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY LATEST #chan {by_msgid(m[4])} 20")

    assert texts(got) == names(5, 6, 7, 8, 9)


async def test_latest_with_a_timestamp_returns_what_came_after_it(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY LATEST #chan {by_time(m[4])} 20")

    assert texts(got) == names(5, 6, 7, 8, 9)


async def test_before_msgid_returns_earlier_messages(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY BEFORE #chan {by_msgid(m[6])} 20")

    assert texts(got) == names(0, 1, 2, 3, 4, 5)


async def test_before_timestamp_with_limit_keeps_the_nearest(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY BEFORE #chan {by_time(m[6])} 2")

    assert texts(got) == names(4, 5)


async def test_after_msgid_returns_later_messages(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY AFTER #chan {by_msgid(m[3])} 20")

    assert texts(got) == names(4, 5, 6, 7, 8, 9)


async def test_after_timestamp_with_limit_keeps_the_nearest(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = await history(alice, f"CHATHISTORY AFTER #chan {by_time(m[3])} 3")

    assert texts(got) == names(4, 5, 6)


async def test_around_msgid_includes_the_reference(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    assert texts(await history(alice, f"CHATHISTORY AROUND #chan {by_msgid(m[7])} 1")) == names(7)
    assert texts(await history(alice, f"CHATHISTORY AROUND #chan {by_msgid(m[7])} 3")) == names(6, 7, 8)


async def test_around_timestamp_includes_the_reference(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    got = texts(await history(alice, f"CHATHISTORY AROUND #chan {by_time(m[7])} 3"))

    assert "m7" in got
    assert len(got) <= 3
    assert got == sorted(got)


async def test_between_excludes_both_ends_in_either_direction(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    forward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_msgid(m[0])} {by_msgid(m[9])} 20")
    backward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_msgid(m[9])} {by_msgid(m[0])} 20")

    assert texts(forward) == names(*range(1, 9))
    assert texts(backward) == names(*range(1, 9))


async def test_between_msgids_with_limit_counts_from_the_first_reference(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    forward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_msgid(m[0])} {by_msgid(m[9])} 3")
    backward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_msgid(m[9])} {by_msgid(m[0])} 3")

    assert texts(forward) == names(1, 2, 3)
    assert texts(backward) == names(6, 7, 8)


async def test_between_timestamps_with_limit_counts_from_the_first_reference(server: RunningServer) -> None:
    alice, m = await ten_messages(server)

    forward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_time(m[0])} {by_time(m[9])} 3")
    backward = await history(alice, f"CHATHISTORY BETWEEN #chan {by_time(m[9])} {by_time(m[0])} 3")

    assert texts(forward) == names(1, 2, 3)
    assert texts(backward) == names(6, 7, 8)


async def test_replayed_messages_match_the_live_echo(server: RunningServer) -> None:
    alice, echoes = await ten_messages(server)

    got = await history(alice, "CHATHISTORY LATEST #chan * 10")

    assert [(m.source, m.command, m.params, m.tags["time"], m.tags["msgid"]) for m in got] == [
        (e.source, e.command, e.params, e.tags["time"], e.tags["msgid"]) for e in echoes
    ]


async def test_batch_names_the_target_as_the_client_wrote_it(server: RunningServer) -> None:
    alice, _ = await ten_messages(server)

    got = await history(alice, "CHATHISTORY LATEST #CHAN * 2", target="#CHAN")

    assert texts(got) == names(8, 9)


async def test_labeled_chathistory_labels_the_history_batch(server: RunningServer) -> None:
    alice, _ = await ten_messages(server)

    reply = await alice.request("@label=hist1 CHATHISTORY LATEST #chan * 2")

    labeled = [m for m in reply if "label" in m.tags]
    assert [(m.command, m.tags["label"]) for m in labeled] == [("BATCH", "hist1")]
    assert reply[0] is labeled[0]
    assert texts(find(reply, "PRIVMSG")) == names(8, 9)


async def test_nothing_to_return_gives_an_empty_batch(server: RunningServer) -> None:
    alice, m = await ten_messages(server)
    await alice.request("JOIN #quiet")

    assert await history(alice, f"CHATHISTORY AFTER #chan {by_msgid(m[9])} 10") == []
    assert await history(alice, "CHATHISTORY LATEST #quiet * 10") == []


async def test_unknown_channel_is_an_invalid_target(server: RunningServer) -> None:
    alice = await server.user("alice", caps=HISTORY_CAPS)

    reply = await alice.request("CHATHISTORY LATEST #nonexistent_channel * 10")

    assert [(m.source, m.command, m.params[:4], len(m.params)) for m in reply] == [
        (SERVER, "FAIL", ["CHATHISTORY", "INVALID_TARGET", "LATEST", "#nonexistent_channel"], 5)
    ]


async def test_channel_not_joined_is_an_invalid_target(server: RunningServer) -> None:
    await ten_messages(server)
    bob = await server.user("bob", caps=HISTORY_CAPS)

    reply = await bob.request("CHATHISTORY LATEST #chan * 10")

    assert [(m.command, m.params[:4], len(m.params)) for m in reply] == [
        ("FAIL", ["CHATHISTORY", "INVALID_TARGET", "LATEST", "#chan"], 5)
    ]


async def test_malformed_references_are_invalid_params(server: RunningServer) -> None:
    alice, _ = await ten_messages(server)

    for query in (
        "BEFORE #chan foo=bar 10",
        "AFTER #chan timestamp=not-a-timestamp 10",
        "AROUND #chan msgid= 10",
        "BETWEEN #chan * * 10",
        "LATEST #chan * many",
    ):
        reply = await alice.request(f"CHATHISTORY {query}")
        assert [(m.command, m.params[:3]) for m in reply] == [
            ("FAIL", ["CHATHISTORY", "INVALID_PARAMS", query.split()[0]])
        ], query


async def test_direct_message_history_shows_both_directions_to_both_accounts(server: RunningServer) -> None:
    for name in ("alice", "bob"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    bob = await server.user("bob", caps=HISTORY_CAPS, account="bob", password="pw-bob")

    a1 = await echo_of(alice, "PRIVMSG bob :a1")
    b1 = await echo_of(bob, "PRIVMSG alice :b1")
    a2 = await echo_of(alice, "PRIVMSG bob :a2")
    expected = [(e.source, e.params, e.tags["msgid"], e.tags["time"]) for e in (a1, b1, a2)]
    await alice.sync()
    await bob.sync()

    for client, peer in ((alice, "bob"), (bob, "alice")):
        got = await history(client, f"CHATHISTORY LATEST {peer} * 10")
        assert [(m.source, m.params, m.tags["msgid"], m.tags["time"]) for m in got] == expected


async def test_direct_message_history_does_not_leak_to_a_third_account(server: RunningServer) -> None:
    for name in ("alice", "bob", "carol"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    bob = await server.user("bob", caps=HISTORY_CAPS, account="bob", password="pw-bob")
    carol = await server.user("carol", caps=HISTORY_CAPS, account="carol", password="pw-carol")
    await echo_of(alice, "PRIVMSG bob :between alice and bob")
    await echo_of(bob, "PRIVMSG alice :still alice and bob")
    await echo_of(carol, "PRIVMSG alice :carol to alice")
    for client in (alice, bob, carol):
        await client.sync()

    assert texts(await history(alice, "CHATHISTORY LATEST bob * 10")) == [
        "between alice and bob",
        "still alice and bob",
    ]
    assert await history(carol, "CHATHISTORY LATEST bob * 10") == []
    assert texts(await history(carol, "CHATHISTORY LATEST alice * 10")) == ["carol to alice"]


async def test_direct_message_target_is_case_insensitive_and_echoed_as_written(server: RunningServer) -> None:
    for name in ("alice", "bob"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    await server.user("bob", account="bob", password="pw-bob")
    await echo_of(alice, "PRIVMSG bob :hello bob")

    got = await history(alice, "CHATHISTORY LATEST BOB * 10", target="BOB")

    assert [m.params for m in got] == [["bob", "hello bob"]]


async def test_direct_message_history_keeps_client_only_tags(server: RunningServer) -> None:
    for name in ("alice", "bob"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    bob = await server.user("bob", caps=HISTORY_CAPS, account="bob", password="pw-bob")
    sent = await echo_of(alice, r"@+draft/reply=abc;+custom=x\sy PRIVMSG bob :tagged")
    await bob.sync()

    got = await history(bob, "CHATHISTORY LATEST alice * 10")

    assert [(m.tags["msgid"], m.tags.get("+draft/reply"), m.tags.get("+custom")) for m in got] == [
        (sent.tags["msgid"], "abc", "x y")
    ]


async def test_messages_to_self_are_in_history_once(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")

    reply = await alice.request("PRIVMSG alice :note one")
    assert len(find(reply, "PRIVMSG")) == 2
    await alice.request("PRIVMSG alice :note two")

    got = await history(alice, "CHATHISTORY LATEST alice * 10")

    assert texts(got) == ["note one", "note two"]


async def test_registered_user_can_read_its_conversation_with_a_guest(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    guest = await server.user("guest", caps=HISTORY_CAPS)
    await echo_of(alice, "PRIVMSG guest :hello guest")
    await echo_of(guest, "PRIVMSG alice :hello alice")
    await alice.sync()

    got = await history(alice, "CHATHISTORY LATEST guest * 10")

    assert texts(got) == ["hello guest", "hello alice"]


async def test_new_account_does_not_inherit_a_guests_direct_messages(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    guest = await server.user("carl", caps=HISTORY_CAPS)
    await echo_of(alice, "PRIVMSG carl :said to the guest")
    await echo_of(guest, "PRIVMSG alice :said by the guest")
    await guest.send("QUIT")
    await guest.closed()
    await wait_offline(alice, "carl")
    await server.add_account("carl", "pw-carl")

    carl = await server.user("carl", caps=HISTORY_CAPS, account="carl", password="pw-carl")

    assert await history(carl, "CHATHISTORY LATEST alice * 10") == []


async def test_history_without_batch_is_plain_lines(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["server-time", "message-tags", "draft/chathistory"])
    await alice.request("JOIN #chan")
    await alice.request("PRIVMSG #chan :one")
    await alice.request("PRIVMSG #chan :two")

    reply = await alice.request("CHATHISTORY LATEST #chan * 10")

    assert [(m.command, m.params) for m in reply] == [("PRIVMSG", ["#chan", "one"]), ("PRIVMSG", ["#chan", "two"])]
    assert all("batch" not in m.tags and "time" in m.tags for m in reply)


async def test_targets_lists_conversations_by_latest_message_with_bare_timestamps(server: RunningServer) -> None:
    for name in ("alice", "bob"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    await server.user("bob", account="bob", password="pw-bob")
    await alice.request("JOIN #ch1,#ch2")
    first = await echo_of(alice, "PRIVMSG #ch1 :in ch1")
    second = await echo_of(alice, "PRIVMSG bob :to bob")
    third = await echo_of(alice, "PRIVMSG #ch2 :in ch2")
    window = f"timestamp={shifted(first.tags['time'], -10)} timestamp={shifted(third.tags['time'], 10)}"

    reply = await alice.request(f"CHATHISTORY TARGETS {window} 10")

    start, *inner, end = reply
    ref = start.params[0][1:]
    assert (start.command, start.params) == ("BATCH", [f"+{ref}", "draft/chathistory-targets"])
    assert [(m.source, m.command, m.params, m.tags) for m in inner] == [
        (SERVER, "CHATHISTORY", ["TARGETS", "#ch1", first.tags["time"]], {"batch": ref}),
        (SERVER, "CHATHISTORY", ["TARGETS", "bob", second.tags["time"]], {"batch": ref}),
        (SERVER, "CHATHISTORY", ["TARGETS", "#ch2", third.tags["time"]], {"batch": ref}),
    ]
    assert (end.command, end.params) == ("BATCH", [f"-{ref}"])

    limited = await alice.request(f"CHATHISTORY TARGETS {window} 2")
    assert [m.params[1] for m in limited[1:-1]] == ["#ch1", "bob"]


async def test_targets_limit_keeps_the_earliest_direct_conversations(server: RunningServer) -> None:
    names_ = ("alice", "bob", "carol", "dave")
    for name in names_:
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    for name in names_[1:]:
        await server.user(name, account=name, password=f"pw-{name}")
    first = await echo_of(alice, "PRIVMSG bob :one")
    await echo_of(alice, "PRIVMSG carol :two")
    last = await echo_of(alice, "PRIVMSG dave :three")
    window = f"timestamp={shifted(first.tags['time'], -10)} timestamp={shifted(last.tags['time'], 10)}"

    reply = await alice.request(f"CHATHISTORY TARGETS {window} 2")

    assert [m.params[1] for m in find(reply, "CHATHISTORY")] == ["bob", "carol"]


async def test_targets_leaves_out_a_target_whose_latest_message_is_outside_the_window(
    server: RunningServer,
) -> None:
    for name in ("alice", "bob"):
        await server.add_account(name, f"pw-{name}")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    await server.user("bob", account="bob", password="pw-bob")
    await alice.request("JOIN #ch1")
    first = await echo_of(alice, "PRIVMSG #ch1 :early in ch1")
    await echo_of(alice, "PRIVMSG bob :to bob")
    latest = await echo_of(alice, "PRIVMSG #ch1 :later in ch1")

    reply = await alice.request(
        f"CHATHISTORY TARGETS timestamp={shifted(first.tags['time'], -10)} {by_time(latest)} 10"
    )

    assert [m.params[1] for m in find(reply, "CHATHISTORY")] == ["bob"]


async def test_tagmsg_is_replayed_only_with_event_playback(server: RunningServer) -> None:
    alice = await server.user("alice", caps=HISTORY_CAPS)
    bob = await server.user("bob", caps=[*HISTORY_CAPS, "draft/event-playback"])
    await alice.request("JOIN #chan")
    await bob.request("JOIN #chan")
    react = await echo_of(alice, "@+draft/persist;+draft/react=yes TAGMSG #chan")
    await echo_of(alice, "PRIVMSG #chan :words")
    await bob.sync()

    plain = await history(alice, "CHATHISTORY LATEST #chan * 10")
    assert commands(plain) == ["PRIVMSG"]

    events = [m for m in await history(bob, "CHATHISTORY LATEST #chan * 10") if m.command in ("TAGMSG", "PRIVMSG")]
    assert commands(events) == ["TAGMSG", "PRIVMSG"]
    assert events[0].tags["msgid"] == react.tags["msgid"]
    assert events[0].tags["+draft/react"] == "yes"


async def test_redacted_messages_are_left_out_of_history(server: RunningServer) -> None:
    alice = await server.user("alice", caps=[*HISTORY_CAPS, "draft/message-redaction"])
    await alice.request("JOIN #chan")
    await echo_of(alice, "PRIVMSG #chan :keep one")
    doomed = await echo_of(alice, "PRIVMSG #chan :delete me")
    await echo_of(alice, "PRIVMSG #chan :keep two")
    await alice.request(f"REDACT #chan {doomed.tags['msgid']}")

    got = await history(alice, "CHATHISTORY LATEST #chan * 10")

    shown = [m for m in got if m.command == "PRIVMSG"]
    if doomed.tags["msgid"] in {m.tags["msgid"] for m in shown}:
        # Allowed alternative: the message stays but is followed by its REDACT.
        assert [m.params[:2] for m in got if m.command == "REDACT"] == [["#chan", doomed.tags["msgid"]]]
    else:
        assert texts(shown) == ["keep one", "keep two"]


async def test_history_survives_a_restart(make_server: ServerFactory) -> None:
    server = await make_server()
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    await alice.request("JOIN #chan")
    echoes = [await echo_of(alice, f"PRIVMSG #chan :before restart {i}") for i in range(3)]
    await server.stop()

    again = await make_server()
    alice = await again.user("alice", caps=HISTORY_CAPS, account="alice", password="pw-alice")
    if not find(alice.log, "JOIN"):
        await alice.request("JOIN #chan")
    got = await history(alice, "CHATHISTORY LATEST #chan * 10")

    assert [(m.params, m.tags["msgid"], m.tags["time"]) for m in got] == [
        (e.params, e.tags["msgid"], e.tags["time"]) for e in echoes
    ]


# -- replay on JOIN ----------------------------------------------------------------------------


async def test_join_replays_recent_history_to_a_client_without_chathistory(make_server: ServerFactory) -> None:
    server = await make_server(history_replay=5)
    alice = await server.user("alice")
    await alice.request("JOIN #chan")
    for i in range(7):
        await alice.request(f"PRIVMSG #chan :m{i}")
    bob = await server.user("bob")

    reply = await bob.request("JOIN #chan")

    assert commands(reply) == ["JOIN", "353", "366", *["PRIVMSG"] * 5]
    assert [(m.source, m.params) for m in reply[3:]] == [(mask("alice"), ["#chan", f"m{i}"]) for i in range(2, 7)]


async def test_join_replay_counts_only_messages_the_client_is_shown(make_server: ServerFactory) -> None:
    server = await make_server(history_replay=5)
    alice = await server.user("alice", caps=["message-tags"])
    await alice.request("JOIN #chan")
    for i in range(6):
        await alice.request(f"PRIVMSG #chan :m{i}")
    await alice.request("@+draft/react=yes TAGMSG #chan")
    bob = await server.user("bob")

    reply = await bob.request("JOIN #chan")

    assert [m.params for m in find(reply, "PRIVMSG")] == [["#chan", f"m{i}"] for i in range(1, 6)]
    assert "TAGMSG" not in commands(reply)


async def test_join_does_not_replay_history_to_a_chathistory_client(make_server: ServerFactory) -> None:
    server = await make_server(history_replay=5)
    alice = await server.user("alice")
    await alice.request("JOIN #chan")
    for i in range(3):
        await alice.request(f"PRIVMSG #chan :m{i}")
    bob = await server.user("bob", caps=HISTORY_CAPS)

    reply = await bob.request("JOIN #chan")

    assert commands(reply) == ["JOIN", "353", "366"]


# -- draft/read-marker -------------------------------------------------------------------------

STAMP = "2019-01-04T14:33:26.123Z"
OLDER = "2017-06-26T15:46:07.000Z"


async def test_markread_get_without_a_marker_answers_star(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)
    await alice.request("JOIN #chan")

    reply = await alice.request("MARKREAD #chan")

    assert [(m.source, m.command, m.params) for m in reply] == [(SERVER, "MARKREAD", ["#chan", "*"])]


async def test_markread_set_answers_with_the_stored_value(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)
    await alice.request("JOIN #chan")

    reply = await alice.request(f"MARKREAD #chan timestamp={STAMP}")
    assert [(m.command, m.params) for m in reply] == [("MARKREAD", ["#chan", f"timestamp={STAMP}"])]

    reply = await alice.request("MARKREAD #chan")
    assert [(m.command, m.params) for m in reply] == [("MARKREAD", ["#chan", f"timestamp={STAMP}"])]


async def test_markread_with_an_older_timestamp_keeps_the_newer_one(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)
    await alice.request("JOIN #chan")
    await alice.request(f"MARKREAD #chan timestamp={STAMP}")

    reply = await alice.request(f"MARKREAD #chan timestamp={OLDER}")

    assert [(m.command, m.params) for m in reply] == [("MARKREAD", ["#chan", f"timestamp={STAMP}"])]
    assert [m.params for m in await alice.request("MARKREAD #chan")] == [["#chan", f"timestamp={STAMP}"]]


async def test_markread_works_for_a_nick_target(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)
    await server.user("bob")

    reply = await alice.request(f"MARKREAD bob timestamp={STAMP}")

    assert [(m.command, m.params) for m in reply] == [("MARKREAD", ["bob", f"timestamp={STAMP}"])]


async def test_markread_without_params_fails_with_need_more_params(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)

    reply = await alice.request("MARKREAD")

    assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["MARKREAD", "NEED_MORE_PARAMS"])]


async def test_markread_with_a_bad_timestamp_fails_with_invalid_params(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)

    for value in ("timestamp=not-a-timestamp", "*"):
        reply = await alice.request(f"MARKREAD #chan {value}")
        assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["MARKREAD", "INVALID_PARAMS"])], value


async def test_join_sends_the_read_marker_before_end_of_names(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)

    reply = await alice.request("JOIN #chan")

    assert commands(reply)[0] == "JOIN"
    markers = find(reply, "MARKREAD")
    assert [(m.source, m.params) for m in markers] == [(SERVER, ["#chan", "*"])]
    assert reply.index(markers[0]) < commands(reply).index("366")


async def test_rejoin_sends_the_stored_read_marker(server: RunningServer) -> None:
    alice = await server.user("alice", caps=MARKER_CAPS)
    await alice.request("JOIN #chan")
    await alice.request(f"MARKREAD #chan timestamp={STAMP}")
    await alice.request("PART #chan")

    reply = await alice.request("JOIN #chan")

    assert [m.params for m in find(reply, "MARKREAD")] == [["#chan", f"timestamp={STAMP}"]]
    assert commands(reply).index("MARKREAD") < commands(reply).index("366")


async def test_join_without_the_cap_sends_no_read_marker(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("JOIN #chan")

    assert commands(reply) == ["JOIN", "353", "366"]


async def test_read_marker_is_pushed_to_the_accounts_other_connection(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    first = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    await first.request("JOIN #chan")
    second = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    await second.sync()

    await first.request(f"MARKREAD #chan timestamp={STAMP}")

    got = await second.expect("MARKREAD")
    assert (got.source, got.params) == (SERVER, ["#chan", f"timestamp={STAMP}"])


async def test_join_from_one_connection_shows_the_read_marker_to_the_other(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    first = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    second = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    await first.request("JOIN #chan")
    await first.request(f"MARKREAD #chan timestamp={STAMP}")
    await first.request("PART #chan")
    await second.sync()

    await first.request("JOIN #chan")

    seen = await second.sync()
    cmds = commands(seen)
    assert cmds[0] == "JOIN"
    assert [m.params for m in find(seen, "MARKREAD")] == [["#chan", f"timestamp={STAMP}"]]
    assert cmds.index("MARKREAD") < cmds.index("366")


async def test_second_connection_gets_read_markers_of_the_channels_it_is_put_in(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    first = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    await first.request("JOIN #chan")
    await first.request(f"MARKREAD #chan timestamp={STAMP}")

    second = await server.connect()
    burst = await second.register("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")

    cmds = commands(burst)
    assert "JOIN" in cmds
    assert [m.params for m in find(burst, "MARKREAD")] == [["#chan", f"timestamp={STAMP}"]]
    assert cmds.index("MARKREAD") < cmds.index("366")


async def test_read_marker_persists_for_an_account_across_reconnect(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    observer = await server.user("observer")
    alice = await server.user("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    await alice.request("JOIN #chan")
    await alice.request(f"MARKREAD #chan timestamp={STAMP}")
    await alice.close()
    await wait_offline(observer, "alice")

    again = await server.connect()
    burst = await again.register("alice", caps=MARKER_CAPS, account="alice", password="pw-alice")
    burst += await again.sync()

    assert [m.params for m in find(burst, "MARKREAD")] == [["#chan", f"timestamp={STAMP}"]]
