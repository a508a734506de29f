"""The sans-I/O client session: CAP and SASL in the client role, chat events, batches."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from lanchat.client.session import ClientSession
from lanchat.client.session import events as ev
from lanchat.client.session.dispatch import HANDLERS
from lanchat.client.session.wire import (
    action_text,
    iso_timestamp,
    make_action,
    sasl_plain_chunks,
    server_time,
    split_text,
)
from lanchat.proto.message import Message, parse
from tests.process import python_output

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
CAPS = (
    "cap-notify message-tags server-time echo-message batch labeled-response account-tag away-notify "
    "multi-prefix sasl=PLAIN draft/chathistory draft/event-playback"
)


def lines(session: ClientSession) -> list[str]:
    """What the session wants to send, as wire lines."""
    return [m.to_line() for m in session.take_outgoing()]


def feed(session: ClientSession, *raw: str) -> list[ev.Event]:
    """Feed server lines; all the events."""
    out: list[ev.Event] = []
    for line in raw:
        out += session.feed(parse(line))
    return out


def registered(nick: str = "alice") -> ClientSession:
    """A session through CAP, SASL and the welcome."""
    session = ClientSession(clock=lambda: NOW)
    session.start()
    feed(session, f":srv CAP * LS :{CAPS}")
    feed(session, f":srv CAP * ACK :{' '.join(c.partition('=')[0] for c in CAPS.split() if 'playback' not in c)}")
    session.login(nick, "pw")
    feed(session, ":srv AUTHENTICATE +", f":srv 900 * * {nick} :logged in", ":srv 903 * :ok")
    feed(
        session,
        f":srv 001 {nick} :Welcome to the lanchat Network, {nick}!~{nick}@127.0.0.1",
        f":srv 005 {nick} CASEMAPPING=rfc1459 CHANTYPES=# CHATHISTORY=100 PREFIX=(ov)@+ :are supported",
    )
    session.take_outgoing()
    return session


# -- registration ----------------------------------------------------------------------------


def test_caps_then_sasl_then_registration() -> None:
    session = ClientSession(clock=lambda: NOW)
    session.start()
    assert lines(session) == ["CAP LS 302"]
    assert feed(session, ":srv CAP * LS * :cap-notify message-tags server-time") == []
    assert lines(session) == []  # the list goes on
    assert feed(session, ":srv CAP * LS :echo-message batch sasl=PLAIN draft/chathistory draft/multiline=x") == []
    assert lines(session) == ["CAP REQ :sasl server-time message-tags batch echo-message draft/chathistory cap-notify"]
    events = feed(session, ":srv CAP * ACK :sasl server-time message-tags batch echo-message draft/chathistory")
    assert events == [ev.CapsNegotiated(sasl=True)]

    session.login("alice", "s3cret")
    assert lines(session) == ["AUTHENTICATE PLAIN"]
    feed(session, ":srv AUTHENTICATE +")
    [auth] = lines(session)
    assert base64.b64decode(auth.split()[1]) == b"\0alice\0s3cret"

    assert feed(session, ":srv 904 * :SASL authentication failed") == [ev.LoginFailed("SASL authentication failed")]
    session.login("alice", "right")
    feed(session, ":srv AUTHENTICATE +")
    lines(session)
    feed(session, ":srv 900 * *!*@h Alice :You are now logged in as Alice", ":srv 903 * :SASL ok")
    assert lines(session) == ["NICK Alice", "USER Alice 0 * Alice", "CAP END"]
    events = feed(session, ":srv 001 Alice :Welcome to the lanchat Network, Alice!~Alice@10.0.0.5")
    assert events == [ev.Registered("Alice", "Alice")]
    assert session.source == "Alice!~Alice@10.0.0.5"


def test_no_sasl_offered_ends_negotiation_without_a_request() -> None:
    session = ClientSession()
    session.start()
    lines(session)
    assert feed(session, ":srv CAP * LS :away-notify") == []
    assert lines(session) == ["CAP REQ away-notify"]
    assert feed(session, ":srv CAP * NAK :away-notify") == [ev.CapsNegotiated(sasl=False)]
    with pytest.raises(RuntimeError):
        session.login("a", "b")


def test_a_taken_nick_gets_an_underscore_then_gives_up() -> None:
    session = ClientSession()
    session.account = "alice"
    for expected in ("alice_", "alice__", "alice___"):
        assert feed(session, ":srv 433 * alice :Nickname is already in use") == []
        assert lines(session) == [f"NICK {expected}"]
    [failed] = feed(session, ":srv 433 * alice :Nickname is already in use")
    assert isinstance(failed, ev.LoginFailed)
    assert not failed.bad_credentials


def test_sasl_chunks_of_400_bytes_end_with_a_plus_when_exact() -> None:
    assert sasl_plain_chunks("a", "b") == [base64.b64encode(b"\0a\0b").decode()]
    # 298 bytes of payload -> exactly 400 base64 characters.
    chunks = sasl_plain_chunks("u", "p" * 295)
    assert [len(c) for c in chunks] == [400, 1]
    assert chunks[-1] == "+"
    long = sasl_plain_chunks("u", "p" * 400)
    assert [len(c) for c in long[:-1]] == [400]
    assert len(long[-1]) < 400
    assert base64.b64decode("".join(long)) == b"\0u\0" + b"p" * 400


def test_ping_is_answered_and_error_reported() -> None:
    session = registered()
    assert feed(session, "PING :abc") == []
    assert lines(session) == ["PONG abc"]
    assert feed(session, "ERROR :Closing Link: bye") == [ev.Disconnecting("Closing Link: bye")]


# -- chat ------------------------------------------------------------------------------------


def test_channel_and_direct_messages_with_server_time() -> None:
    session = registered()
    [channel] = feed(session, "@time=2026-11-26T08:00:01.500Z;msgid=m1 :bob!~b@h PRIVMSG #general :hi all")
    assert isinstance(channel, ev.MessageReceived)
    msg = channel.message
    assert (msg.sender, msg.conversation, msg.direct, msg.own, msg.msgid) == ("bob", "#general", False, False, "m1")
    assert msg.time == datetime(2026, 11, 26, 8, 0, 1, 500000, tzinfo=UTC)

    [direct] = feed(session, ":bob!~b@h PRIVMSG alice :just you")
    assert isinstance(direct, ev.MessageReceived)
    assert (direct.message.conversation, direct.message.direct, direct.message.time) == ("bob", True, NOW)

    [echo] = feed(session, ":alice!~a@h PRIVMSG Bob :reply")
    assert isinstance(echo, ev.MessageReceived)
    assert (echo.message.conversation, echo.message.own, echo.message.direct) == ("Bob", True, True)

    [action] = feed(session, ":bob!~b@h PRIVMSG #general :\x01ACTION waves\x01")
    assert isinstance(action, ev.MessageReceived)
    assert (action.message.action, action.message.text) == (True, "waves")
    assert feed(session, ":bob!~b@h PRIVMSG alice :\x01VERSION\x01") == []

    [status] = feed(session, ":bob!~b@h PRIVMSG @#general :ops only")
    assert isinstance(status, ev.MessageReceived)
    assert status.message.conversation == "#general"


def test_server_notices_are_notices_not_chat() -> None:
    session = registered()
    [notice] = feed(session, ":lanchat.local NOTICE alice :You have 1 message sent to you while you were away:")
    assert notice == ev.Notice("You have 1 message sent to you while you were away:", NOW)
    [user_notice] = feed(session, ":bob!~b@h NOTICE alice :psst")
    assert isinstance(user_notice, ev.MessageReceived)
    assert user_notice.message.notice


def test_chathistory_batches_come_out_whole() -> None:
    session = registered()
    assert feed(session, ":srv BATCH +b1 chathistory #general") == []
    assert (
        feed(
            session,
            "@batch=b1;time=2026-11-26T07:00:00.000Z;msgid=a :bob!~b@h PRIVMSG #general :one",
            "@batch=b1;time=2026-11-26T07:01:00.000Z;msgid=b :alice!~a@h PRIVMSG #general :two",
        )
        == []
    )
    [history] = feed(session, ":srv BATCH -b1")
    assert isinstance(history, ev.HistoryReceived)
    assert history.target == "#general"
    assert [(m.sender, m.text, m.own) for m in history.messages] == [("bob", "one", False), ("alice", "two", True)]
    # Other batches (labeled-response) let their lines through.
    feed(session, ":srv BATCH +L labeled-response")
    assert len(feed(session, "@batch=L :bob!~b@h PRIVMSG #general :live")) == 1
    assert feed(session, ":srv BATCH -L") == []


def test_membership_is_tracked() -> None:
    session = registered()
    [joined] = feed(session, ":alice!~a@h JOIN #General")
    assert isinstance(joined, ev.Joined)
    assert joined.own
    assert "#general" in session.channels
    [names] = feed(session, ":srv 353 alice = #general :@bob alice +carol", ":srv 366 alice #general :End")
    assert names == ev.NamesListed("#General", ("@bob", "alice", "+carol"))
    assert set(session.channels["#general"].members.values()) == {"alice", "bob", "carol"}
    [nick] = feed(session, ":carol!~c@h NICK caroline")
    assert isinstance(nick, ev.NickChanged)
    assert "caroline" in session.channels["#general"].members
    [quit_] = feed(session, ":bob!~b@h QUIT :Quit: bye")
    assert isinstance(quit_, ev.UserQuit)
    assert quit_.channels == ("#General",)
    [kick] = feed(session, ":caroline!~c@h KICK #general alice :out")
    assert isinstance(kick, ev.Parted)
    assert (kick.own, kick.by, kick.reason) == (True, "caroline", "out")
    assert session.channels == {}


def test_who_topic_away_and_errors() -> None:
    session = registered()
    feed(session, ":srv 352 alice #general ~bob 10.0.0.2 srv bob G@ :0 Bob Builder")
    [who] = feed(session, ":srv 315 alice #general :End of WHO list")
    assert who == ev.WhoListed("#general", (ev.WhoEntry("bob", "~bob", "10.0.0.2", "Bob Builder", True, "@"),))
    assert feed(session, ":srv 332 alice #general :Lunch") == [ev.TopicShown("#general", "Lunch")]
    assert feed(session, ":srv 331 alice #general :No topic is set") == [ev.TopicShown("#general", None)]
    [changed] = feed(session, ":bob!~b@h TOPIC #general :New")
    assert changed == ev.TopicChanged("#general", "bob", "New", NOW)
    assert feed(session, ":bob!~b@h AWAY :lunch") == [ev.AwayChanged("bob", "lunch", NOW)]
    assert feed(session, ":bob!~b@h AWAY") == [ev.AwayChanged("bob", None, NOW)]
    assert feed(session, ":srv 401 alice nobody :No such nick/channel") == [
        ev.ServerError("nobody: No such nick/channel", NOW)
    ]
    assert feed(session, "FAIL CHATHISTORY INVALID_TARGET LATEST #x :Messages could not be retrieved") == [
        ev.ServerError("CHATHISTORY: Messages could not be retrieved", NOW)
    ]
    assert feed(session, ":srv 372 alice :- Welcome!") == [ev.Notice("Welcome!", NOW)]
    assert feed(session, ":srv 251 alice :There are 2 users") == []


# -- sending ---------------------------------------------------------------------------------


def test_long_and_multiline_text_is_split() -> None:
    session = registered()
    assert session.say("#general", "first line\nsecond line") == 2
    assert lines(session) == ["PRIVMSG #general :first line", "PRIVMSG #general :second line"]
    text = "word " * 200
    count = session.say("#general", text)
    sent = session.take_outgoing()
    assert count == len(sent) > 1
    assert "".join(m.params[1] for m in sent) == text
    for message in sent:
        relayed = Message("PRIVMSG", message.params, source="alice!~alice@" + "h" * 64).to_bytes()
        assert len(relayed) <= 512
    session.say("bob", "waves", action=True)
    assert lines(session) == ["PRIVMSG bob :\x01ACTION waves\x01"]
    assert session.say("#general", "   ") == 0


def test_history_requests() -> None:
    session = registered()
    assert session.request_history("#general", 500)
    since = datetime(2026, 11, 26, 7, 0, 0, 123000, tzinfo=UTC)
    assert session.request_history("bob", 10, since)
    assert lines(session) == [
        "CHATHISTORY LATEST #general * 100",
        "CHATHISTORY LATEST bob timestamp=2026-11-26T07:00:00.123Z 10",
    ]
    session.caps.discard("draft/chathistory")
    assert not session.request_history("#general", 10)


def test_commands_as_lines() -> None:
    session = registered()
    session.join("#dev")
    session.join("#locked", "key")
    session.part("#dev", "bye now")
    session.who("#dev")
    session.topic("#dev")
    session.topic("#dev", "New topic")
    session.away("lunch")
    session.away(None)
    session.quit("done")
    assert lines(session) == [
        "JOIN #dev",
        "JOIN #locked key",
        "PART #dev :bye now",
        "WHO #dev",
        "TOPIC #dev",
        "TOPIC #dev :New topic",
        "AWAY lunch",
        "AWAY",
        "QUIT done",
    ]


# -- wire helpers ----------------------------------------------------------------------------


def test_wire_helpers() -> None:
    assert server_time({"time": "2026-11-26T08:00:00.000Z"}) == datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert server_time({"time": "yesterday"}) is None
    assert server_time({"time": "2026-11-26T08:00:00"}) is None
    assert server_time({}) is None
    assert iso_timestamp(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2026-01-02T03:04:05.006Z"
    assert action_text(make_action("dances")) == "dances"
    assert action_text("\x01ACTION\x01") == ""
    assert action_text("\x01ACTIONS\x01") is None
    assert action_text("plain") is None


@pytest.mark.parametrize("size", [4, 10, 57, 400])
def test_split_text_keeps_every_character_within_the_limit(size: int) -> None:
    text = "héllo wörld — ünïcode ✓ 日本語のテキスト " * 20
    pieces = split_text(text, size)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= size for p in pieces)


def test_the_client_uses_proto_and_no_server_module() -> None:
    probe = (
        "import sys, lanchat.client.app, lanchat.client.__main__\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('lanchat.'))))"
    )
    modules = python_output(probe).split()
    assert "lanchat.proto.message" in modules
    outside = [m for m in modules if not m.startswith(("lanchat.client", "lanchat.proto"))]
    assert outside == []


# -- malformed lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        ":srv CAP alice NEW *",
        ":srv CAP * LS *",
        ":srv CAP alice ACK *",
        ":srv 305",
        ":srv 306",
        "@time=9999-12-31T23:59:59-23:59 :bob!~b@h PRIVMSG #general :from the end of time",
    ],
)
def test_short_or_odd_lines_are_handled(line: str) -> None:
    session = registered()
    events = session.feed(parse(line))
    assert not [e for e in events if isinstance(e, ev.MalformedLine)]
    for event in events:
        if isinstance(event, ev.MessageReceived):
            assert event.message.time == NOW


def test_a_line_the_session_cannot_handle_is_reported_and_the_next_ones_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(session: ClientSession, msg: Message) -> list[ev.Event]:
        raise KeyError("a bug a server line found")

    monkeypatch.setitem(HANDLERS, "FROB", broken)
    session = registered()
    assert feed(session, ":srv FROB x", "PING :still") == [ev.MalformedLine("FROB")]
    assert lines(session) == ["PONG still"]
