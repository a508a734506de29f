"""PRIVMSG, NOTICE and TAGMSG end to end: routing, errors, channel modes, and the IRCv3
extensions that shape a message (echo-message, message-tags, server-time, account-tag,
STATUSMSG, labeled-response, draft/multiline, draft/message-redaction), plus direct
messages to accounts that are offline or connected twice.

Expectations follow the specs digest (/work/notes/specs.md) and what irctest asserts.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

from lanchat.proto.message import Message, parse
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, canon, commands, find, join_all, lines, mask, plain, wait_offline

SERVER = "lanchat.local"
TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MULTILINE = "draft/multiline"
CONCAT = "draft/multiline-concat"
REDACT_CAPS = ["message-tags", "echo-message", "draft/message-redaction"]


async def send_and_settle(client: IrcTestClient, line: str) -> list[Message]:
    """Send a line and wait until the server finished it (its deliveries are queued)."""
    return await client.request(line)


async def echo_of(client: IrcTestClient, line: str) -> Message:
    """Send a message with echo-message on and return the echo."""
    reply = await client.request(line)
    echoes = [m for m in reply if m.command in ("PRIVMSG", "NOTICE", "TAGMSG", "BATCH")]
    assert echoes, reply
    return echoes[0]


def parse_raw(raw: bytes) -> Message:
    """Parse a raw line with lanchat's parser."""
    return parse(raw.decode("utf-8"))


def parse_server_time(value: str) -> datetime:
    """A server-time tag value as an aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# -- plain routing -----------------------------------------------------------------------------


async def test_channel_privmsg_reaches_every_other_member_and_not_the_sender(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    carol = await server.user("carol")
    await join_all("#chan", alice, bob, carol)

    assert await send_and_settle(alice, "PRIVMSG #chan :hello everyone") == []

    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG #chan :hello everyone")]
    assert lines(await carol.sync()) == [canon(f":{mask('alice')} PRIVMSG #chan :hello everyone")]


async def test_private_privmsg_reaches_only_its_target(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    carol = await server.user("carol")

    assert await send_and_settle(alice, "PRIVMSG bob :just for you") == []

    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :just for you")]
    assert await carol.sync() == []


async def test_notice_is_relayed_to_channels_and_nicks(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    await send_and_settle(alice, "NOTICE #chan :channel notice")
    await send_and_settle(alice, "NOTICE bob :private notice")

    assert lines(await bob.sync()) == [
        canon(f":{mask('alice')} NOTICE #chan :channel notice"),
        canon(f":{mask('alice')} NOTICE bob :private notice"),
    ]


async def test_privmsg_to_unknown_nick_gets_401(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("PRIVMSG nobody :hello?")

    assert [(m.source, m.command, m.params[:2]) for m in reply] == [(SERVER, "401", ["alice", "nobody"])]


async def test_privmsg_to_unknown_channel_gets_403(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("PRIVMSG #nowhere :hello?")

    # 401, 403 and 404 are all allowed by the spec for a channel that does not exist.
    assert len(reply) == 1
    assert reply[0].command in ("401", "403", "404")
    assert reply[0].params[:2] == ["alice", "#nowhere"]


async def test_privmsg_without_recipient_gets_411(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("PRIVMSG")

    # 411 ERR_NORECIPIENT (461 would also be defensible, but the command layer has 411).
    assert [(m.command, m.params[0]) for m in reply] == [("411", "alice")]


async def test_privmsg_with_empty_text_gets_412_and_is_not_relayed(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    reply = await alice.request("PRIVMSG #chan :")

    assert [(m.command, m.params[0]) for m in reply] == [("412", "alice")]
    assert await bob.sync() == []


async def test_notice_errors_are_never_answered(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#closed", bob)
    await bob.request("MODE #closed +n")

    assert await alice.request("NOTICE nobody :hi") == []
    assert await alice.request("NOTICE #nowhere :hi") == []
    assert await alice.request("NOTICE #closed :hi") == []
    assert await alice.request("NOTICE bob :") == []
    assert await alice.request("NOTICE") == []
    assert await bob.sync() == []


# -- channel modes -----------------------------------------------------------------------------


async def test_no_external_messages_mode_rejects_outsiders_with_404(server: RunningServer) -> None:
    op = await server.user("op")
    member = await server.user("member")
    outsider = await server.user("outsider")
    await join_all("#chan", op, member)
    await op.request("MODE #chan +n")
    await member.sync()

    reply = await outsider.request("PRIVMSG #chan :let me in")

    assert [(m.command, m.params[:2]) for m in reply] == [("404", ["outsider", "#chan"])]
    assert await member.sync() == []


async def test_outsider_may_send_when_no_external_is_off(server: RunningServer) -> None:
    op = await server.user("op")
    outsider = await server.user("outsider")
    await join_all("#chan", op)
    await op.request("MODE #chan -n")

    assert await send_and_settle(outsider, "PRIVMSG #chan :hello from outside") == []

    assert lines(await op.sync()) == [canon(f":{mask('outsider')} PRIVMSG #chan :hello from outside")]


async def test_moderated_channel_needs_voice_to_speak(server: RunningServer) -> None:
    op = await server.user("op")
    talker = await server.user("talker")
    await join_all("#chan", op, talker)
    await op.request("MODE #chan +m")
    await talker.sync()

    reply = await talker.request("PRIVMSG #chan :can anyone hear me")
    assert [(m.command, m.params[:2]) for m in reply] == [("404", ["talker", "#chan"])]
    assert await op.sync() == []

    await op.request("MODE #chan +v talker")
    await talker.sync()
    assert await send_and_settle(talker, "PRIVMSG #chan :now you can") == []
    assert lines(await op.sync()) == [canon(f":{mask('talker')} PRIVMSG #chan :now you can")]


async def test_banned_member_cannot_send_to_the_channel(server: RunningServer) -> None:
    op = await server.user("op")
    pest = await server.user("pest")
    await join_all("#chan", op, pest)
    await op.request("MODE #chan +b pest!*@*")
    await pest.sync()

    reply = await pest.request("PRIVMSG #chan :spam")

    assert [(m.command, m.params[:2]) for m in reply] == [("404", ["pest", "#chan"])]
    assert await op.sync() == []


async def test_message_to_several_targets_reaches_each(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    carol = await server.user("carol")
    await join_all("#chan", alice, carol)

    reply = await send_and_settle(alice, "PRIVMSG bob,#chan,nobody :to all of you")

    assert [(m.command, m.params[:2]) for m in reply] == [("401", ["alice", "nobody"])]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :to all of you")]
    assert lines(await carol.sync()) == [canon(f":{mask('alice')} PRIVMSG #chan :to all of you")]


async def test_privmsg_to_away_user_gets_301_and_is_still_delivered(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    assert commands(await bob.request("AWAY :gone fishing")) == ["306"]

    reply = await alice.request("PRIVMSG bob :are you there")

    assert [(m.source, m.command, m.params) for m in reply] == [(SERVER, "301", ["alice", "bob", "gone fishing"])]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :are you there")]


async def test_notice_to_away_user_gets_no_301(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await bob.request("AWAY :gone fishing")

    assert await alice.request("NOTICE bob :fyi") == []


# -- echo-message ------------------------------------------------------------------------------


async def test_echo_and_relay_share_msgid_and_time(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", "message-tags", "server-time"])
    bob = await server.user("bob", caps=["message-tags", "server-time"])
    await join_all("#chan", alice, bob)

    echo = await echo_of(alice, "PRIVMSG #chan :hello everyone")
    relay = await bob.expect("PRIVMSG")

    assert plain(echo) == plain(relay) == canon(f":{mask('alice')} PRIVMSG #chan :hello everyone")
    assert echo.tags["msgid"] == relay.tags["msgid"]
    assert echo.tags["time"] == relay.tags["time"]


async def test_echo_message_echoes_to_a_lone_channel_member(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message"])
    await join_all("#chan", alice)

    reply = await alice.request("PRIVMSG #chan :anyone?")

    assert lines(reply) == [canon(f":{mask('alice')} PRIVMSG #chan :anyone?")]
    assert reply[0].tags == {}


async def test_consecutive_messages_have_distinct_msgids_and_times(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", "message-tags", "server-time"])
    await join_all("#chan", alice)

    first = await echo_of(alice, "PRIVMSG #chan :one")
    second = await echo_of(alice, "PRIVMSG #chan :two")

    assert first.tags["msgid"] != second.tags["msgid"]
    assert first.tags["time"] < second.tags["time"]


# -- message-tags, server-time, account-tag ----------------------------------------------------


async def test_client_only_tags_reach_only_message_tags_recipients(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["message-tags"])
    tagged = await server.user("tagged", caps=["message-tags"])
    timed = await server.user("timed", caps=["server-time"])
    bare = await server.user("bare")
    await join_all("#chan", alice, tagged, timed, bare)

    await send_and_settle(alice, "@+example-tag=example-value PRIVMSG #chan :with a tag")

    got = await tagged.expect("PRIVMSG")
    assert got.tags["+example-tag"] == "example-value"
    assert set(got.tags) == {"msgid", "+example-tag"}
    got = await timed.expect("PRIVMSG")
    assert set(got.tags) == {"time"}
    got = await bare.expect("PRIVMSG")
    assert got.tags == {}


async def test_non_client_tags_from_clients_are_stripped(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["message-tags"])
    bob = await server.user("bob", caps=["message-tags"])
    await join_all("#chan", alice, bob)

    await send_and_settle(alice, "@fizz=buzz;cat=dog;+kept=yes PRIVMSG #chan :hi")

    got = await bob.expect("PRIVMSG")
    assert "fizz" not in got.tags
    assert "cat" not in got.tags
    assert got.tags["+kept"] == "yes"


async def test_client_tag_value_escaping_round_trips(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["message-tags"])
    bob = await server.user("bob", caps=["message-tags"])
    await join_all("#chan", alice, bob)

    await send_and_settle(alice, r"@+x=a\:b\sc PRIVMSG #chan :escaped")

    raw = await bob.recv_line()
    assert rb"+x=a\:b\sc" in raw.split(b" ", 1)[0]
    got = parse_raw(raw)
    assert got.tags["+x"] == "a;b c"
    assert got.params == ["#chan", "escaped"]


async def test_server_time_tag_has_millisecond_utc_format(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob", caps=["server-time"])
    before = time.time()

    await send_and_settle(alice, "PRIVMSG bob :what time is it")

    got = await bob.expect("PRIVMSG")
    assert TIME_FORMAT.match(got.tags["time"]), got.tags
    stamp = parse_server_time(got.tags["time"]).timestamp()
    assert before - 1 <= stamp <= time.time() + 1


async def test_msgid_only_for_message_tags_recipients(server: RunningServer) -> None:
    alice = await server.user("alice")
    tagged = await server.user("tagged", caps=["message-tags"])
    timed = await server.user("timed", caps=["server-time"])
    await join_all("#chan", alice, tagged, timed)

    await send_and_settle(alice, "PRIVMSG #chan :id or not")

    assert (await tagged.expect("PRIVMSG")).tags.get("msgid")
    assert "msgid" not in (await timed.expect("PRIVMSG")).tags


async def test_account_tag_names_the_logged_in_sender(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", account="alice", password="pw-alice")
    guest = await server.user("guest")
    bob = await server.user("bob", caps=["account-tag"])

    await send_and_settle(alice, "PRIVMSG bob :from an account")
    await send_and_settle(guest, "PRIVMSG bob :from a guest")

    first, second = find(await bob.sync(), "PRIVMSG")
    assert first.tags == {"account": "alice"}
    assert second.tags == {}


async def test_recipient_without_caps_gets_an_untagged_line(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user(
        "alice",
        caps=["message-tags", "server-time", "account-tag", "echo-message"],
        account="alice",
        password="pw-alice",
    )
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    await send_and_settle(alice, "@+draft/reply=abc PRIVMSG #chan :plain please")

    raw = await bob.recv_line()
    assert raw == f":{mask('alice')} PRIVMSG #chan :plain please".encode()


async def test_tagmsg_reaches_only_message_tags_clients(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["message-tags"])
    tagged = await server.user("tagged", caps=["message-tags"])
    timed = await server.user("timed", caps=["server-time"])
    bare = await server.user("bare")
    await join_all("#chan", alice, tagged, timed, bare)

    assert await send_and_settle(alice, "@+typing=active TAGMSG #chan") == []

    got = find(await tagged.sync(), "TAGMSG")
    assert [(plain(m), m.tags.get("+typing")) for m in got] == [(canon(f":{mask('alice')} TAGMSG #chan"), "active")]
    assert await timed.sync() == []
    assert await bare.sync() == []


async def test_tagmsg_to_a_nick_reaches_a_message_tags_client(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["message-tags"])
    bob = await server.user("bob", caps=["message-tags"])

    await send_and_settle(alice, "@+typing=paused TAGMSG bob")

    got = await bob.expect("TAGMSG")
    assert plain(got) == canon(f":{mask('alice')} TAGMSG bob")
    assert got.tags["+typing"] == "paused"


# -- STATUSMSG ---------------------------------------------------------------------------------


async def test_statusmsg_to_ops_reaches_only_ops_and_keeps_the_prefix(server: RunningServer) -> None:
    chanop = await server.user("chanop")
    other_op = await server.user("otherop")
    voiced = await server.user("voiced")
    regular = await server.user("regular")
    await join_all("#chan", chanop, other_op, voiced, regular)
    await chanop.request("MODE #chan +o otherop")
    await chanop.request("MODE #chan +v voiced")
    for client in (other_op, voiced, regular):
        await client.sync()

    assert await send_and_settle(chanop, "PRIVMSG @#chan :this message is for operators") == []

    assert lines(await other_op.sync()) == [canon(f":{mask('chanop')} PRIVMSG @#chan :this message is for operators")]
    assert await voiced.sync() == []
    assert await regular.sync() == []


async def test_statusmsg_to_voiced_reaches_voiced_and_ops(server: RunningServer) -> None:
    chanop = await server.user("chanop")
    voiced = await server.user("voiced")
    regular = await server.user("regular")
    await join_all("#chan", chanop, voiced, regular)
    await chanop.request("MODE #chan +v voiced")
    await voiced.sync()
    await regular.sync()

    await send_and_settle(voiced, "PRIVMSG +#chan :voices and ops")

    assert lines(await chanop.sync()) == [canon(f":{mask('voiced')} PRIVMSG +#chan :voices and ops")]
    assert await regular.sync() == []


async def test_statusmsg_echo_keeps_the_prefix(server: RunningServer) -> None:
    chanop = await server.user("chanop", caps=["echo-message"])
    await join_all("#chan", chanop)

    reply = await chanop.request("NOTICE @#chan :ops note")

    assert lines(reply) == [canon(f":{mask('chanop')} NOTICE @#chan :ops note")]


# -- labeled-response --------------------------------------------------------------------------

LABEL_CAPS = ["batch", "labeled-response"]


async def test_labeled_command_with_one_reply_labels_that_reply(server: RunningServer) -> None:
    alice = await server.user("alice", caps=LABEL_CAPS)

    reply = await alice.request("@label=98765 PING adhoctestline")

    assert [(m.tags, plain(m)) for m in reply] == [
        ({"label": "98765"}, canon(f":{SERVER} PONG {SERVER} adhoctestline"))
    ]


async def test_labeled_command_without_reply_gets_ack(server: RunningServer) -> None:
    alice = await server.user("alice", caps=LABEL_CAPS)

    reply = await alice.request("@label=98765 PONG adhoctestline")

    assert [(m.tags, plain(m)) for m in reply] == [({"label": "98765"}, canon(f":{SERVER} ACK"))]


async def test_labeled_error_numeric_is_labeled(server: RunningServer) -> None:
    alice = await server.user("alice", caps=LABEL_CAPS)

    reply = await alice.request("@label=deadbeef NONEXISTENT_COMMAND")

    assert [(m.command, m.tags) for m in reply] == [("421", {"label": "deadbeef"})]


async def test_labeled_command_with_several_replies_is_one_labeled_batch(server: RunningServer) -> None:
    alice = await server.user("alice", caps=LABEL_CAPS)

    reply = await alice.request("@label=12345 JOIN #chan")

    start, *inner, end = reply
    assert start.command == "BATCH"
    assert start.tags == {"label": "12345"}
    ref = start.params[0][1:]
    assert start.params == [f"+{ref}", "labeled-response"]
    assert re.fullmatch(r"[A-Za-z0-9-]+", ref)
    assert commands(inner) == ["JOIN", "353", "366"]
    assert all(m.tags == {"batch": ref} for m in inner)
    assert (end.command, end.params, end.tags) == ("BATCH", [f"-{ref}"], {})


async def test_labeled_echo_carries_the_label_and_the_recipient_copy_does_not(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", *LABEL_CAPS])
    bob = await server.user("bob", caps=["message-tags", *LABEL_CAPS])

    reply = await alice.request("@label=xyz;+example-client-tag=example-value PRIVMSG bob :hi there")

    # alice lacks message-tags: the echo carries the label and nothing else.
    assert [(m.tags, plain(m)) for m in reply] == [({"label": "xyz"}, canon(f":{mask('alice')} PRIVMSG bob :hi there"))]
    got = await bob.expect("PRIVMSG")
    assert "label" not in got.tags
    assert got.tags["+example-client-tag"] == "example-value"


async def test_labeled_message_to_self_labels_exactly_one_copy(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", *LABEL_CAPS])

    reply = await alice.request("@label=12345 PRIVMSG alice :note to self")

    assert lines(reply) == [canon(f":{mask('alice')} PRIVMSG alice :note to self")] * 2
    assert sorted(m.tags.get("label", "") for m in reply) == ["", "12345"]


async def test_labeled_message_without_echo_message_gets_ack(server: RunningServer) -> None:
    alice = await server.user("alice", caps=LABEL_CAPS)
    bob = await server.user("bob")

    reply = await alice.request("@label=12345 PRIVMSG bob :hi")

    assert [(m.command, m.tags) for m in reply] == [("ACK", {"label": "12345"})]
    assert [m.tags for m in await bob.sync()] == [{}]


async def test_labeled_tagmsg_echo_carries_label_and_client_tags(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", "message-tags", *LABEL_CAPS])
    bob = await server.user("bob", caps=["message-tags"])

    reply = await alice.request("@label=12345;+draft/reply=abc;+draft/react=l😃l TAGMSG bob")

    assert lines(reply) == [canon(f":{mask('alice')} TAGMSG bob")]
    echo = reply[0]
    assert (echo.tags["label"], echo.tags["+draft/reply"], echo.tags["+draft/react"]) == ("12345", "abc", "l😃l")
    got = await bob.expect("TAGMSG")
    assert "label" not in got.tags
    assert (got.tags["+draft/reply"], got.tags["+draft/react"]) == ("abc", "l😃l")
    assert got.tags["msgid"] == echo.tags["msgid"]


async def test_labeled_message_to_several_targets_wraps_the_echoes_in_a_batch(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["echo-message", *LABEL_CAPS])
    bob = await server.user("bob")
    carl = await server.user("carl")

    reply = await alice.request("@label=12345 PRIVMSG bob,carl :hi")

    start, *inner, end = reply
    ref = start.params[0][1:]
    assert (start.command, start.params, start.tags) == ("BATCH", [f"+{ref}", "labeled-response"], {"label": "12345"})
    assert lines(inner) == [canon(f":{mask('alice')} PRIVMSG bob :hi"), canon(f":{mask('alice')} PRIVMSG carl :hi")]
    assert all(m.tags == {"batch": ref} for m in inner)
    assert (end.command, end.params) == ("BATCH", [f"-{ref}"])
    assert [m.tags for m in await bob.sync()] == [{}]
    assert [m.tags for m in await carl.sync()] == [{}]


# -- draft/multiline ---------------------------------------------------------------------------

ML_BASE = ["message-tags", "batch", "echo-message", "server-time", "labeled-response"]


async def multiline_room(server: RunningServer) -> tuple[IrcTestClient, IrcTestClient, IrcTestClient]:
    """alice and bob with draft/multiline, charlie without it, all in #test."""
    alice = await server.user("alice", caps=[*ML_BASE, MULTILINE])
    bob = await server.user("bob", caps=[*ML_BASE, MULTILINE])
    charlie = await server.user("charlie", caps=ML_BASE)
    await join_all("#test", alice, bob, charlie)
    return alice, bob, charlie


async def send_multiline(client: IrcTestClient, *body: str, opener_tags: str = "label=xyz") -> list[Message]:
    """Send a draft/multiline batch (body lines are ``[tags ]PRIVMSG …`` without the batch tag)."""
    await client.send(f"@{opener_tags} BATCH +123 {MULTILINE} #test")
    for line in body:
        if line.startswith("@"):
            await client.send("@batch=123;" + line[1:])
        else:
            await client.send("@batch=123 " + line)
    await client.send("BATCH -123")
    return await client.sync()


async def advertised_multiline_limits(client: IrcTestClient) -> dict[str, int]:
    """The max-bytes / max-lines values of draft/multiline in CAP LS 302."""
    reply = await client.request("CAP LS 302")
    for msg in reply:
        for item in msg.params[-1].split():
            name, _, value = item.partition("=")
            if name == MULTILINE:
                return {k: int(v) for k, _, v in (p.partition("=") for p in value.split(","))}
    raise AssertionError(f"{MULTILINE} not in CAP LS: {reply}")


async def test_multiline_batch_goes_to_multiline_clients_as_a_batch(server: RunningServer) -> None:
    alice, bob, _charlie = await multiline_room(server)

    echo = await send_multiline(
        alice, "PRIVMSG #test hello", "PRIVMSG #test :#how is ", f"@{CONCAT} PRIVMSG #test :everyone?"
    )

    start, *inner, end = echo
    assert (start.command, start.params[1:], start.source) == ("BATCH", [MULTILINE, "#test"], mask("alice"))
    assert start.tags["label"] == "xyz"
    msgid, stamp = start.tags["msgid"], start.tags["time"]
    assert [(m.command, m.params) for m in inner] == [
        ("PRIVMSG", ["#test", "hello"]),
        ("PRIVMSG", ["#test", "#how is "]),
        ("PRIVMSG", ["#test", "everyone?"]),
    ]
    assert all("msgid" not in m.tags for m in inner)
    assert CONCAT in inner[2].tags
    assert (end.command, end.params) == ("BATCH", ["-" + start.params[0][1:]])

    relay = await bob.sync()
    start, *inner, end = relay
    ref = start.params[0][1:]
    assert (start.command, start.params[1:]) == ("BATCH", [MULTILINE, "#test"])
    assert (start.tags["msgid"], start.tags["time"]) == (msgid, stamp)
    assert "label" not in start.tags
    assert [m.params for m in inner] == [["#test", "hello"], ["#test", "#how is "], ["#test", "everyone?"]]
    assert all(m.tags.get("batch") == ref and "msgid" not in m.tags for m in inner)
    assert [CONCAT in m.tags for m in inner] == [False, False, True]
    assert (end.command, end.params) == ("BATCH", ["-" + ref])


async def test_multiline_fallback_puts_msgid_on_first_line_and_time_on_all(server: RunningServer) -> None:
    alice, bob, charlie = await multiline_room(server)

    await send_multiline(alice, "PRIVMSG #test hello", "PRIVMSG #test :#how is ", f"@{CONCAT} PRIVMSG #test :everyone?")
    start = (await bob.sync())[0]

    fallback = await charlie.sync()
    assert lines(fallback) == [
        canon(f":{mask('alice')} PRIVMSG #test hello"),
        canon(f":{mask('alice')} PRIVMSG #test :#how is "),
        canon(f":{mask('alice')} PRIVMSG #test everyone?"),
    ]
    assert [m.tags.get("msgid") for m in fallback] == [start.tags["msgid"], None, None]
    assert all(m.tags.get("time") == start.tags["time"] for m in fallback)
    assert all(CONCAT not in m.tags and "batch" not in m.tags for m in fallback)


async def test_multiline_fallback_drops_blank_lines_and_copies_client_tags(server: RunningServer) -> None:
    alice, bob, charlie = await multiline_room(server)

    await send_multiline(
        alice,
        "PRIVMSG #test :",
        "PRIVMSG #test :#how is ",
        f"@{CONCAT} PRIVMSG #test :everyone?",
        opener_tags="label=xyz;+client-only-tag",
    )

    relay = await bob.sync()
    assert "+client-only-tag" in relay[0].tags
    assert [m.params for m in relay[1:-1]] == [["#test", ""], ["#test", "#how is "], ["#test", "everyone?"]]
    fallback = await charlie.sync()
    assert [m.params for m in fallback] == [["#test", "#how is "], ["#test", "everyone?"]]
    assert fallback[0].tags["msgid"] == relay[0].tags["msgid"]
    assert all("+client-only-tag" in m.tags for m in fallback)


async def test_multiline_over_max_lines_fails(server: RunningServer) -> None:
    alice, bob, charlie = await multiline_room(server)
    max_lines = (await advertised_multiline_limits(alice))["max-lines"]

    reply = await send_multiline(
        alice, *[f"PRIVMSG #test :line {i}" for i in range(max_lines + 1)], opener_tags="+unlabeled"
    )

    assert reply, "no reply to an over-long batch"
    assert (reply[0].command, reply[0].params[:3]) == ("FAIL", ["BATCH", "MULTILINE_MAX_LINES", str(max_lines)])
    assert not find(reply, "PRIVMSG")
    assert await bob.sync() == []
    assert await charlie.sync() == []


async def test_multiline_over_max_bytes_fails(server: RunningServer) -> None:
    alice, bob, _charlie = await multiline_room(server)
    max_bytes = (await advertised_multiline_limits(alice))["max-bytes"]
    count = max_bytes // 400 + 1

    reply = await send_multiline(
        alice, *[f"PRIVMSG #test :{'x' * 400}" for _ in range(count)], opener_tags="+unlabeled"
    )

    assert reply, "no reply to an over-long batch"
    assert (reply[0].command, reply[0].params[:3]) == ("FAIL", ["BATCH", "MULTILINE_MAX_BYTES", str(max_bytes)])
    assert await bob.sync() == []


async def test_multiline_line_with_another_target_is_an_invalid_target(server: RunningServer) -> None:
    alice, bob, _charlie = await multiline_room(server)

    reply = await send_multiline(alice, "PRIVMSG #test :hi", "PRIVMSG #other :there", opener_tags="+unlabeled")

    assert [(m.command, m.params[:4]) for m in reply] == [
        ("FAIL", ["BATCH", "MULTILINE_INVALID_TARGET", "#test", "#other"])
    ]
    assert await bob.sync() == []


async def test_multiline_concat_tag_on_blank_line_is_invalid(server: RunningServer) -> None:
    alice, bob, _charlie = await multiline_room(server)

    reply = await send_multiline(alice, "PRIVMSG #test :hi", f"@{CONCAT} PRIVMSG #test :", opener_tags="+unlabeled")

    assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["BATCH", "MULTILINE_INVALID"])]
    assert await bob.sync() == []


# -- draft/message-redaction -------------------------------------------------------------------


async def redaction_room(server: RunningServer) -> tuple[IrcTestClient, IrcTestClient, IrcTestClient]:
    """alice (op) and bob with the redaction caps, carol without; all in #chan."""
    alice = await server.user("alice", caps=REDACT_CAPS)
    bob = await server.user("bob", caps=REDACT_CAPS)
    carol = await server.user("carol")
    await join_all("#chan", alice, bob, carol)
    return alice, bob, carol


async def msgid_of(client: IrcTestClient, line: str) -> str:
    """Send a message (echo-message + message-tags on) and return its msgid."""
    return (await echo_of(client, line)).tags["msgid"]


async def test_author_redacts_own_message_and_members_with_the_cap_see_it(server: RunningServer) -> None:
    alice, bob, carol = await redaction_room(server)
    msgid = await msgid_of(bob, "PRIVMSG #chan :oops")
    await alice.sync()
    await carol.sync()

    reply = await bob.request(f"REDACT #chan {msgid}")

    assert [(plain(m), len(m.params)) for m in find(reply, "REDACT")] == [
        (canon(f":{mask('bob')} REDACT #chan {msgid}"), 2)
    ]
    assert lines(await alice.sync()) == [canon(f":{mask('bob')} REDACT #chan {msgid}")]
    assert await carol.sync() == []


async def test_redact_reason_is_relayed(server: RunningServer) -> None:
    alice, bob, _carol = await redaction_room(server)
    msgid = await msgid_of(alice, "PRIVMSG #chan :spammy")
    await bob.sync()

    await send_and_settle(alice, f"REDACT #chan {msgid} :spam")

    assert [m.params for m in await bob.sync()] == [["#chan", msgid, "spam"]]


async def test_channel_op_may_redact_someone_elses_message(server: RunningServer) -> None:
    alice, bob, _carol = await redaction_room(server)
    msgid = await msgid_of(bob, "PRIVMSG #chan :rude words")
    await alice.sync()

    reply = await alice.request(f"REDACT #chan {msgid}")

    assert lines(reply) == [canon(f":{mask('alice')} REDACT #chan {msgid}")]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} REDACT #chan {msgid}")]


async def test_regular_member_may_not_redact_someone_elses_message(server: RunningServer) -> None:
    alice, bob, _carol = await redaction_room(server)
    msgid = await msgid_of(alice, "PRIVMSG #chan :mine")
    await bob.sync()

    reply = await bob.request(f"REDACT #chan {msgid}")

    assert [(m.source, m.command, m.params[:4]) for m in reply] == [
        (SERVER, "FAIL", ["REDACT", "REDACT_FORBIDDEN", "#chan", msgid])
    ]
    assert await alice.sync() == []


async def test_redact_unknown_msgid_fails(server: RunningServer) -> None:
    alice, _bob, _carol = await redaction_room(server)

    reply = await alice.request("REDACT #chan nonexistent123")

    assert [(m.command, m.params[:4]) for m in reply] == [
        ("FAIL", ["REDACT", "UNKNOWN_MSGID", "#chan", "nonexistent123"])
    ]


async def test_redact_in_a_channel_that_does_not_exist_is_an_invalid_target(server: RunningServer) -> None:
    alice, _bob, _carol = await redaction_room(server)
    msgid = await msgid_of(alice, "PRIVMSG #chan :real")

    reply = await alice.request(f"REDACT #fake-channel {msgid}")

    assert [(m.command, m.params[:3], len(m.params)) for m in reply] == [
        ("FAIL", ["REDACT", "INVALID_TARGET", "#fake-channel"], 4)
    ]


async def test_redact_in_a_channel_not_joined_is_an_invalid_target(server: RunningServer) -> None:
    alice, _bob, _carol = await redaction_room(server)
    outsider = await server.user("outsider", caps=REDACT_CAPS)
    msgid = await msgid_of(alice, "PRIVMSG #chan :members only")

    reply = await outsider.request(f"REDACT #chan {msgid}")

    assert [(m.command, m.params[:3]) for m in reply] == [("FAIL", ["REDACT", "INVALID_TARGET", "#chan"])]
    assert await alice.sync() == []


async def test_redact_with_a_msgid_from_another_channel_is_unknown(server: RunningServer) -> None:
    alice, _bob, _carol = await redaction_room(server)
    await alice.request("JOIN #elsewhere")
    msgid = await msgid_of(alice, "PRIVMSG #elsewhere :not in #chan")

    reply = await alice.request(f"REDACT #chan {msgid}")

    assert [(m.command, m.params[:4]) for m in reply] == [("FAIL", ["REDACT", "UNKNOWN_MSGID", "#chan", msgid])]


async def test_redacting_a_tagmsg_succeeds_or_is_unknown(server: RunningServer) -> None:
    alice, bob, _carol = await redaction_room(server)
    msgid = await msgid_of(alice, "@+draft/react=👍 TAGMSG #chan")
    await bob.sync()

    reply = await alice.request(f"REDACT #chan {msgid}")

    if find(reply, "FAIL"):
        assert [(m.command, m.params[:4]) for m in reply] == [("FAIL", ["REDACT", "UNKNOWN_MSGID", "#chan", msgid])]
        assert await bob.sync() == []
    else:
        assert lines(reply) == [canon(f":{mask('alice')} REDACT #chan {msgid}")]
        assert lines(await bob.sync()) == [canon(f":{mask('alice')} REDACT #chan {msgid}")]


async def test_redacting_a_direct_message_reaches_both_parties(server: RunningServer) -> None:
    alice = await server.user("alice", caps=REDACT_CAPS)
    bob = await server.user("bob", caps=REDACT_CAPS)
    msgid = await msgid_of(alice, "PRIVMSG bob :regrettable")
    await bob.sync()

    reply = await alice.request(f"REDACT bob {msgid}")

    assert lines(reply) == [canon(f":{mask('alice')} REDACT bob {msgid}")]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} REDACT bob {msgid}")]


# -- direct messages to accounts ---------------------------------------------------------------


async def accounts_server(make_server: ServerFactory) -> RunningServer:
    """A server that needs accounts, with alice and bob."""
    server = await make_server(allow_guests=False)
    await server.add_account("alice", "pw-alice")
    await server.add_account("bob", "pw-bob")
    return server


async def test_direct_message_to_offline_account_is_shown_at_its_next_login(make_server: ServerFactory) -> None:
    server = await accounts_server(make_server)
    alice = await server.user("alice", account="alice", password="pw-alice")

    assert await alice.request("PRIVMSG bob :read this when you are back") == []

    bob = await server.connect()
    burst = await bob.register("bob", account="bob", password="pw-bob")
    shown = [m for m in find(burst, "PRIVMSG") if m.source == mask("alice")]
    assert len(shown) == 1
    assert shown[0].params[0] == "bob"
    assert shown[0].params[1].endswith("read this when you are back")


async def test_missed_direct_message_carries_its_original_server_time(make_server: ServerFactory) -> None:
    server = await accounts_server(make_server)
    alice = await server.user("alice", caps=["echo-message", "server-time"], account="alice", password="pw-alice")
    bob = await server.user("bob", account="bob", password="pw-bob")
    await bob.send("QUIT :brb")
    await bob.closed()
    await wait_offline(alice, "bob")
    # Last-seen has millisecond resolution: step past the logout's millisecond.
    await asyncio.sleep(0.005)

    echo = await echo_of(alice, "PRIVMSG bob :while you were out")

    bob = await server.connect()
    burst = await bob.register("bob", caps=["server-time"], account="bob", password="pw-bob")
    shown = [m for m in find(burst, "PRIVMSG") if m.source == mask("alice")]
    assert [(m.params, m.tags.get("time")) for m in shown] == [(["bob", "while you were out"], echo.tags["time"])]


async def test_missed_direct_messages_come_in_a_history_batch_with_batch_and_server_time(
    make_server: ServerFactory,
) -> None:
    server = await accounts_server(make_server)
    alice = await server.user("alice", caps=["echo-message", "server-time"], account="alice", password="pw-alice")

    echo = await echo_of(alice, "PRIVMSG bob :first")

    bob = await server.connect()
    burst = await bob.register("bob", caps=["batch", "server-time"], account="bob", password="pw-bob")
    starts = [m for m in find(burst, "BATCH") if m.params[0].startswith("+")]
    assert [m.params[1:] for m in starts] == [["chathistory", "alice"]]
    ref = starts[0].params[0][1:]
    shown = [m for m in find(burst, "PRIVMSG") if m.source == mask("alice")]
    assert [(m.params, m.tags) for m in shown] == [(["bob", "first"], {"batch": ref, "time": echo.tags["time"]})]


async def test_same_account_twice_with_the_same_nick_shares_the_user(make_server: ServerFactory) -> None:
    server = await accounts_server(make_server)
    first = await server.user("bob", account="bob", password="pw-bob")
    second = await server.user("bob", account="bob", password="pw-bob")
    alice = await server.user("alice", account="alice", password="pw-alice")

    assert second.nick == "bob"
    await send_and_settle(alice, "PRIVMSG bob :to both devices")

    assert lines(await first.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :to both devices")]
    assert lines(await second.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :to both devices")]


async def test_a_pong_follows_messages_sent_before_the_ping_even_behind_another_ping(server: RunningServer) -> None:
    """irctest's synchronisation: one client PINGs then sends a DM; the recipient, PINGing at
    the same moment, must get the DM before its PONG (the DM is stored before delivery)."""
    sender = await server.user("sender")
    target = await server.user("target")
    for n in range(30):
        # Both written in the same loop turn (send does not yield here), the sender's first: the
        # server reads the two sockets in that order.
        await sender.send(f"PING first{n}\r\nPRIVMSG target :hello {n}\r\n".encode())
        await target.send(f"PING second{n}")
        before = []
        while (msg := await target.recv()).command != "PONG":
            before.append(msg)
        assert msg.params[-1] == f"second{n}"
        assert [m.params[-1] for m in before if m.command == "PRIVMSG"] == [f"hello {n}"], n
        await sender.expect("PONG")


async def test_missed_direct_messages_end_when_the_user_came_online(make_server: ServerFactory) -> None:
    """A DM sent while the recipient is logging in reaches it live; the replay of what it missed
    stops at the moment it came online, or that DM would be shown twice."""
    server = await accounts_server(make_server)
    alice = await server.user("alice", account="alice", password="pw-alice")
    await send_and_settle(alice, "PRIVMSG bob :while away")
    bob = await server.user("bob", account="bob", password="pw-bob")
    state = server.app.irc.state
    came_online = state.now_ms()
    await send_and_settle(alice, "PRIVMSG bob :live")
    session = state.session("bob")
    assert session is not None
    missed = await server.app.irc.messages.missed_direct(session, 0, came_online, 100)
    assert [m.text for m in missed] == ["while away"]
    everything = await server.app.irc.messages.missed_direct(session, 0, 2**62, 100)
    assert [m.text for m in everything] == ["while away", "live"]
    await bob.close()
