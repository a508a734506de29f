"""How things look: ``HH:MM NAME : text`` lines, direct messages marked, unsafe text defused;
and the conversation list behind it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from lanchat.client.conversations import Conversations
from lanchat.client.render import Renderer, sanitize
from lanchat.client.session import ChatMessage
from lanchat.client.session import events as ev

AT = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


BASE = ChatMessage(
    time=AT, sender="bob", target="#general", text="hello", conversation="#general", direct=False, own=False
)


def message(text: str = "hello", **changes: Any) -> ChatMessage:
    """A chat message: bob's "hello" in #general unless told otherwise."""
    if "target" in changes and "conversation" not in changes:
        changes["conversation"] = changes["target"]
    return dataclasses.replace(BASE, text=text, **changes)


def renderer(current: str | None = "#general") -> Renderer:
    """A renderer in UTC on the day of AT, with ``current`` as the current conversation."""
    conversations = Conversations()
    if current is not None:
        conversations.add(current, direct=False)
    return Renderer(conversations, tz=UTC, today=lambda: date(2026, 11, 26))


def test_a_malformed_line_is_one_line_saying_so() -> None:
    assert renderer().event(ev.MalformedLine("CAP\x1b[2J"), AT) == [
        "14:05 *** Ignored a malformed line from the server (CAP\ufffd[2J)."
    ]


def test_a_time_at_the_edge_of_the_calendar_is_shown_as_it_is() -> None:
    west = Renderer(Conversations(), tz=timezone(timedelta(hours=-5)), today=lambda: date(2026, 11, 26))
    assert west.stamp(datetime(1, 1, 1, 2, 30, tzinfo=UTC)).endswith("01-01 02:30")


def test_chat_lines_are_name_colon_text_with_the_time() -> None:
    r = renderer()
    assert r.message(message()) == "14:05 bob : hello"
    assert r.message(message("waves", action=True)) == "14:05 * bob waves"
    assert r.message(message("psst", notice=True)) == "14:05 -bob- psst"


def test_local_time_and_the_date_when_not_today() -> None:
    r = renderer()
    r.tz = timezone(timedelta(hours=2))
    assert r.message(message()) == "16:05 bob : hello"
    older = message(time=AT - timedelta(days=3))
    assert r.message(older) == "2026-11-23 16:05 bob : hello"


def test_direct_messages_are_marked_and_other_channels_named() -> None:
    r = renderer()
    received = message("hi", target="alice", conversation="bob", direct=True)
    assert r.message(received) == "14:05 [DM] bob : hi"
    sent = message("hi back", sender="alice", target="bob", conversation="bob", direct=True, own=True)
    assert r.message(sent) == "14:05 [DM to bob] alice : hi back"
    elsewhere = message("over here", target="#dev")
    assert r.message(elsewhere) == "14:05 [#dev] bob : over here"


def test_escape_sequences_and_formatting_are_defused() -> None:
    assert sanitize("\x1b[2J\x1b]0;pwned\x07hi") == "\ufffd[2J\ufffd]0;pwned\ufffdhi"
    assert sanitize("\x02bold\x02 \x0304,12red\x03 \x1ditalic\x0f") == "bold red italic"
    assert sanitize("tab\there") == "tab here"
    assert sanitize("abc\u202edcba") == "abc\ufffddcba"
    assert sanitize("line\u2028break") == "line\ufffdbreak"
    assert sanitize("émoji 👩\u200d💻 ok") == "émoji 👩\u200d💻 ok"
    r = renderer()
    assert r.message(message("\x1b[31mred", sender="e\x1bvil")) == "14:05 e\ufffdvil : \ufffd[31mred"


def test_events_as_lines() -> None:
    r = renderer()
    assert r.event(ev.Joined("#general", "bob", False, AT), AT) == ["14:05 *** bob joined #general"]
    assert r.event(ev.Joined("#general", "me", True, AT), AT) == ["14:05 *** You joined #general"]
    assert r.event(ev.Parted("#dev", "bob", "bye", False, AT), AT) == ["14:05 *** bob left #dev (bye)"]
    assert r.event(ev.Parted("#dev", "me", "", True, AT, by="op"), AT) == ["14:05 *** You were kicked from #dev by op"]
    assert r.event(ev.UserQuit("bob", "Quit: home", ("#general",), AT), AT) == ["14:05 *** bob quit (Quit: home)"]
    assert r.event(ev.NickChanged("bob", "robert", False, AT), AT) == ["14:05 *** bob is now known as robert"]
    assert r.event(ev.TopicShown("#dev", None), AT) == ["14:05 *** #dev has no topic"]
    assert r.event(ev.TopicChanged("#dev", "bob", "Ship it", AT), AT) == [
        "14:05 *** bob changed the topic of #dev to: Ship it"
    ]
    assert r.event(ev.AwayChanged("bob", "lunch", AT), AT) == ["14:05 *** bob is away: lunch"]
    assert r.event(ev.AwayChanged("bob", None, AT), AT) == ["14:05 *** bob is back"]
    assert r.event(ev.ServerError("nobody: No such nick/channel", AT), AT) == ["14:05 !!! nobody: No such nick/channel"]
    assert r.event(ev.NamesListed("#dev", ("@bob", "alice")), AT) == ["14:05 *** In #dev: @bob, alice"]
    assert r.event(ev.Registered("alice", "alice"), AT) == []


def test_who_replies() -> None:
    r = renderer()
    bob = ev.WhoEntry("bob", "~bob", "10.0.0.2", "Bob B", True, "@")
    alice = ev.WhoEntry("alice", "~alice", "10.0.0.3", "Alice", False, "")
    assert r.event(ev.WhoListed("#dev", (bob, alice)), AT) == ["14:05 *** Users in #dev (2): @bob (away), alice"]
    assert r.event(ev.WhoListed("bob", (bob,)), AT) == ["14:05 *** bob is ~bob@10.0.0.2 (Bob B, away)"]
    assert r.event(ev.WhoListed("nobody", ()), AT) == ["14:05 *** Nobody matches nobody"]


# -- conversations ---------------------------------------------------------------------------


def test_conversations_switch_cycle_and_close() -> None:
    c = Conversations()
    assert c.current is None
    assert c.cycle(1) is None
    c.add("#general", direct=False)
    c.add("#Dev", direct=False)
    c.add("bob", direct=True)
    assert c.current is not None
    assert c.current.name == "#general"
    assert [i.name for i in c.items] == ["#general", "#Dev", "bob"]
    selected = c.select("#dev")
    assert selected is not None
    assert selected.name == "#Dev"
    assert c.is_current("#DEV")
    cycled = c.cycle(1)
    assert cycled is not None
    assert cycled.name == "bob"
    wrapped = c.cycle(1)
    assert wrapped is not None
    assert wrapped.name == "#general"
    assert c.select("3") is not None
    assert c.select("4") is None
    assert c.select("carol") is None
    c.rename("bob", "robert")
    assert c.current is not None
    assert c.current.name == "robert"
    c.remove("robert")
    assert c.current is not None
    assert c.current.name == "#general"


def test_messages_are_noted_once_and_direct_ones_open_a_conversation() -> None:
    c = Conversations()
    first = message(msgid="m1")
    assert c.note(first)
    assert not c.note(first)
    assert c.seen(first)
    assert c.note(message(msgid=None))
    assert c.note(message(msgid=None))  # without a msgid nothing can be recognised
    later = message(msgid="m2", time=AT + timedelta(minutes=1))
    c.note(later)
    assert c.last_seen("#GENERAL") == later.time
    c.note(message(msgid="m3", time=AT - timedelta(hours=1)))
    assert c.last_seen("#general") == later.time
    dm = message("hi", target="alice", conversation="bob", direct=True, msgid="d1")
    c.note(dm)
    assert [(i.name, i.direct) for i in c.items] == [("bob", True)]
