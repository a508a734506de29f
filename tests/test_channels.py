"""Channels end to end over loopback: JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK, channel MODE
and what survives a restart. Expectations follow the modern IRC spec and irctest (see
notes/specs.md §10 and notes/irctest-report.md §6)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from lanchat.config import OperConfig
from lanchat.core.passwords import HashParams, PasswordHasher
from lanchat.proto.message import Message
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, find

#: Numerics whose last parameter is free-form text (dropped by :func:`brief`).
_TEXT = (
    "315 318 321 323 331 337 347 349 366 368 381 401 403 404 405 441 442 443 461 464 471 472 473 474 475 476 481 482 "
    "696"
)
TEXT_NUMERICS = frozenset(_TEXT.split(" "))
ERROR_NUMERICS = frozenset(c for c in TEXT_NUMERICS if c.startswith("4") or c == "696")


def brief(messages: Iterable[Message]) -> list[tuple[str, list[str]]]:
    """(command, params) of each message, without the free-form text of numerics."""
    return [(m.command, m.params[:-1] if m.command in TEXT_NUMERICS else m.params) for m in messages]


def nick_of(source: str | None) -> str:
    """The nick part of a ``nick!user@host`` source."""
    return (source or "").split("!", 1)[0]


def names_in(messages: Iterable[Message], channel: str) -> set[str]:
    """Every entry (with its prefix) of the 353 lines for a channel."""
    return {entry for m in find(messages, "353") if m.params[2] == channel for entry in m.params[3].split()}


def listed(messages: Iterable[Message]) -> set[str]:
    """The channels of the 322 lines of a LIST reply."""
    return {m.params[1] for m in find(messages, "322")}


def mode_letters(reply: list[Message]) -> set[str]:
    """The mode letters of the 324 in a reply."""
    (line,) = find(reply, "324")
    assert line.params[2].startswith("+")
    return set(line.params[2][1:])


async def member(server: RunningServer, nick: str, *channels: str, **kwargs: object) -> IrcTestClient:
    """A registered user who has joined the channels (in order) and read the replies."""
    client = await server.user(nick, **kwargs)
    for channel in channels:
        reply = await client.request(f"JOIN {channel}")
        assert find(reply, "JOIN"), reply
    return client


async def settle(*clients: IrcTestClient) -> None:
    """Read everything already sent to these clients (other users' joins and so on)."""
    for client in clients:
        await client.sync()


def oper_config(name: str, password: str) -> OperConfig:
    """An [[opers]] entry, hashed cheaply."""
    hasher = PasswordHasher(HashParams(time_cost=1, memory_kib=8192, parallelism=1))
    return OperConfig(name, hasher.hash(password))


# -- JOIN --------------------------------------------------------------------------------------


async def test_join_creates_the_channel_with_the_creator_as_op(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("JOIN #chan")
    assert brief(reply) == [
        ("JOIN", ["#chan"]),
        ("353", ["alice", "=", "#chan", "@alice"]),
        ("366", ["alice", "#chan"]),
    ]
    assert nick_of(reply[0].source) == "alice"


async def test_second_joiner_is_not_op_and_members_see_the_join(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await server.user("bob")
    reply = await bob.request("JOIN #chan")
    assert [m.command for m in reply] == ["JOIN", "353", "366"]
    assert names_in(reply, "#chan") == {"@alice", "bob"}
    assert not reply[1].params[3].endswith(" ")
    seen = await alice.expect("JOIN")
    assert nick_of(seen.source) == "bob"
    assert seen.params == ["#chan"]


async def test_join_burst_is_join_topic_topicwhotime_names(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("TOPIC #chan :new topic")
    bob = await server.user("bob")
    before = int(time.time())
    reply = await bob.request("JOIN #chan")
    assert [m.command for m in reply] == ["JOIN", "332", "333", "353", "366"]
    assert reply[1].params == ["bob", "#chan", "new topic"]
    who_time = reply[2].params
    assert who_time[:2] == ["bob", "#chan"]
    assert nick_of(who_time[2]) == "alice"
    assert before - 5 <= int(who_time[3]) <= before + 5
    assert reply[4].params[:2] == ["bob", "#chan"]


async def test_join_several_channels_with_keys(server: RunningServer) -> None:
    alice = await member(server, "alice", "#k1", "#k2", "#open")
    await alice.request("MODE #k1 +k key1")
    await alice.request("MODE #k2 +k key2")
    bob = await server.user("bob")
    reply = await bob.request("JOIN #k1,#k2 key1,key2")
    assert [m.params for m in find(reply, "JOIN")] == [["#k1"], ["#k2"]]
    assert reply[0].command == "JOIN"
    assert not [m for m in reply if m.command in ERROR_NUMERICS]
    carol = await server.user("carol")
    reply = await carol.request("JOIN #k1,#open key1")
    assert [m.params for m in find(reply, "JOIN")] == [["#k1"], ["#open"]]
    assert not [m for m in reply if m.command in ERROR_NUMERICS]


async def test_join_with_one_wrong_key_joins_only_the_others(server: RunningServer) -> None:
    alice = await member(server, "alice", "#k1", "#k2")
    await alice.request("MODE #k1 +k key1")
    bob = await server.user("bob")
    reply = await bob.request("JOIN #k1,#k2 nope")
    assert [m.params for m in find(reply, "JOIN")] == [["#k2"]]
    assert [(c, p) for c, p in brief(reply) if c in ERROR_NUMERICS] == [("475", ["bob", "#k1"])]


async def test_join_zero_parts_every_channel(server: RunningServer) -> None:
    alice = await member(server, "alice", "#a", "#b")
    bob = await member(server, "bob", "#a")
    await settle(alice)
    reply = await alice.request("JOIN 0")
    assert sorted(m.params[0] for m in find(reply, "PART")) == ["#a", "#b"]
    seen = await bob.expect("PART")
    assert nick_of(seen.source) == "alice"
    assert seen.params[0] == "#a"
    assert names_in(await bob.request("NAMES #a"), "#a") == {"bob"}


async def test_join_bad_names_get_403_naming_each_bad_name(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("JOIN #valid,inv@lid,nohash")
    assert [m.params for m in find(reply, "JOIN")] == [["#valid"]]
    errors = [(c, p) for c, p in brief(reply) if c in ERROR_NUMERICS]
    assert errors == [("403", ["alice", "inv@lid"]), ("403", ["alice", "nohash"])]


async def test_join_when_already_a_member_changes_nothing(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    reply = await bob.request("JOIN #chan")
    assert not [m for m in reply if m.command in ERROR_NUMERICS]
    for line in find(reply, "353"):
        assert line.params[:3] == ["bob", "=", "#chan"]
    assert not find(await alice.sync(), "JOIN")
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice", "bob"}


async def test_join_beyond_the_channel_limit_is_405(make_server: ServerFactory) -> None:
    server = await make_server(max_channels=2)
    alice = await member(server, "alice", "#one", "#two")
    assert brief(await alice.request("JOIN #three")) == [("405", ["alice", "#three"])]


# -- PART --------------------------------------------------------------------------------------


async def test_part_with_reason_goes_to_the_parter_and_the_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    reply = await bob.request("PART #chan :bye everyone")
    assert brief(reply) == [("PART", ["#chan", "bye everyone"])]
    assert nick_of(reply[0].source) == "bob"
    seen = await alice.expect("PART")
    assert (nick_of(seen.source), seen.params) == ("bob", ["#chan", "bye everyone"])
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice"}


async def test_part_of_a_channel_not_joined_is_442_only(server: RunningServer) -> None:
    await member(server, "alice", "#chan")
    bob = await server.user("bob")
    assert brief(await bob.request("PART #chan")) == [("442", ["bob", "#chan"])]


async def test_part_of_a_missing_channel_is_403_only(server: RunningServer) -> None:
    bob = await server.user("bob")
    assert brief(await bob.request("PART #nowhere")) == [("403", ["bob", "#nowhere"])]


# -- TOPIC -------------------------------------------------------------------------------------


async def test_topic_change_is_echoed_to_the_setter_and_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    reply = await alice.request("TOPIC #chan :T0P1C")
    assert brief(reply) == [("TOPIC", ["#chan", "T0P1C"])]
    seen = await bob.expect("TOPIC")
    assert (nick_of(seen.source), seen.params) == ("alice", ["#chan", "T0P1C"])


async def test_topic_query_gives_332_and_333(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("TOPIC #chan :the topic")
    bob = await member(server, "bob", "#chan")
    reply = await bob.request("TOPIC #chan")
    assert [m.command for m in reply] == ["332", "333"]
    assert reply[0].params == ["bob", "#chan", "the topic"]
    assert reply[1].params[:2] == ["bob", "#chan"]
    assert nick_of(reply[1].params[2]) == "alice"
    assert reply[1].params[3].isdigit()


async def test_topic_query_without_a_topic_gives_331(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("TOPIC #chan")) == [("331", ["alice", "#chan"])]


async def test_empty_topic_clears_it(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await alice.request("TOPIC #chan :something")
    await settle(bob)
    assert brief(await alice.request("TOPIC #chan :")) == [("TOPIC", ["#chan", ""])]
    assert (await bob.expect("TOPIC")).params == ["#chan", ""]
    assert brief(await bob.request("TOPIC #chan")) == [("331", ["bob", "#chan"])]


async def test_topic_set_by_a_non_member_is_442(server: RunningServer) -> None:
    await member(server, "alice", "#chan")
    carol = await server.user("carol")
    assert brief(await carol.request("TOPIC #chan :mine")) == [("442", ["carol", "#chan"])]


async def test_topic_is_truncated_to_topiclen(server: RunningServer) -> None:
    alice = await server.connect()
    burst = await alice.register("alice")
    limit = int(next(t for m in find(burst, "005") for t in m.params if t.startswith("TOPICLEN=")).split("=")[1])
    await alice.request("JOIN #chan")
    reply = await alice.request("TOPIC #chan :" + "x" * (limit + 10))
    assert brief(reply) == [("TOPIC", ["#chan", "x" * limit])]


async def test_topic_on_a_plus_t_channel_needs_op(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await alice.request("MODE #chan +t")
    await alice.request("MODE #chan +v bob")
    await settle(bob)
    assert brief(await bob.request("TOPIC #chan :mine")) == [("482", ["bob", "#chan"])]
    assert not find(await alice.sync(), "TOPIC")
    await alice.request("MODE #chan -t")
    await settle(bob)
    assert brief(await bob.request("TOPIC #chan :mine")) == [("TOPIC", ["#chan", "mine"])]


async def test_topic_of_a_missing_channel_is_403(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("TOPIC #nowhere")) == [("403", ["alice", "#nowhere"])]


# -- NAMES -------------------------------------------------------------------------------------


async def test_names_lists_members_with_the_op_prefix(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await member(server, "bob", "#chan")
    await settle(alice)
    reply = await alice.request("NAMES #chan")
    assert [m.command for m in reply] == ["353", "366"]
    assert reply[0].params[:3] == ["alice", "=", "#chan"]
    assert sorted(reply[0].params[3].split(" ")) == ["@alice", "bob"]
    assert reply[1].params[:2] == ["alice", "#chan"]


async def test_names_of_several_channels_ends_with_one_366_echoing_the_query(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan1", "#chan2")
    assert brief(await alice.request("NAMES #chan1,#chan2")) == [
        ("353", ["alice", "=", "#chan1", "@alice"]),
        ("353", ["alice", "=", "#chan2", "@alice"]),
        ("366", ["alice", "#chan1,#chan2"]),
    ]


async def test_names_of_a_missing_channel_is_366_only(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("NAMES #nowhere")) == [("366", ["alice", "#nowhere"])]


async def test_secret_channel_names_are_hidden_from_non_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#secret")
    await alice.request("MODE #secret +s")
    carol = await server.user("carol")
    assert brief(await carol.request("NAMES #secret")) == [("366", ["carol", "#secret"])]
    bob = await server.user("bob")
    reply = await bob.request("JOIN #secret")
    assert find(reply, "353")[0].params[:3] == ["bob", "@", "#secret"]
    assert names_in(reply, "#secret") == {"@alice", "bob"}


async def test_names_hides_invisible_users_from_non_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await server.user("bob")
    await bob.request("MODE bob +i")
    await bob.request("JOIN #chan")
    carol = await server.user("carol")
    assert names_in(await carol.request("NAMES #chan"), "#chan") == {"@alice"}
    await settle(alice)
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice", "bob"}


# -- LIST --------------------------------------------------------------------------------------


async def test_list_gives_each_channel_with_its_user_count_and_topic(server: RunningServer) -> None:
    alice = await member(server, "alice", "#busy", "#quiet")
    await member(server, "bob", "#busy")
    await alice.request("TOPIC #busy :hello world")
    carol = await server.user("carol")
    reply = await carol.request("LIST")
    assert {m.command for m in reply} <= {"321", "322", "323"}
    assert reply[-1].command == "323"
    assert sorted(m.params for m in find(reply, "322")) == [
        ["carol", "#busy", "2", "hello world"],
        ["carol", "#quiet", "1", ""],
    ]


async def test_list_of_a_missing_channel_lists_nothing(server: RunningServer) -> None:
    await member(server, "alice", "#chan")
    carol = await server.user("carol")
    reply = await carol.request("LIST #nowhere")
    assert {m.command for m in reply} <= {"321", "323"}
    assert reply[-1].command == "323"


async def test_list_filters_by_user_count(server: RunningServer) -> None:
    await member(server, "alice", "#busy", "#quiet")
    await member(server, "bob", "#busy")
    carol = await server.user("carol")
    assert listed(await carol.request("LIST >1")) == {"#busy"}
    assert listed(await carol.request("LIST <2")) == {"#quiet"}
    assert listed(await carol.request("LIST >0")) == {"#busy", "#quiet"}
    assert listed(await carol.request("LIST <1")) == set()


async def test_list_filters_by_mask_and_negated_mask(server: RunningServer) -> None:
    await member(server, "alice", "#chan1", "#chan2", "#other")
    carol = await server.user("carol")
    assert listed(await carol.request("LIST #chan*")) == {"#chan1", "#chan2"}
    assert listed(await carol.request("LIST *an1")) == {"#chan1"}
    assert listed(await carol.request("LIST !*an1")) == {"#chan2", "#other"}
    assert listed(await carol.request("LIST #chan2")) == {"#chan2"}


async def test_list_filters_by_creation_time(server: RunningServer) -> None:
    await member(server, "alice", "#new")
    carol = await server.user("carol")
    assert listed(await carol.request("LIST C<10")) == {"#new"}
    assert listed(await carol.request("LIST C>10")) == set()


async def test_list_filters_by_topic_time(server: RunningServer) -> None:
    alice = await member(server, "alice", "#topical", "#bare")
    await alice.request("TOPIC #topical :fresh")
    carol = await server.user("carol")
    assert listed(await carol.request("LIST T<10")) == {"#topical"}
    assert listed(await carol.request("LIST T>10")) == set()


async def test_list_hides_secret_channels_from_non_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#secret", "#public")
    await alice.request("MODE #secret +s")
    carol = await server.user("carol")
    assert listed(await carol.request("LIST")) == {"#public"}
    assert listed(await alice.request("LIST")) == {"#secret", "#public"}


# -- INVITE ------------------------------------------------------------------------------------


async def test_invite_sends_341_to_the_inviter_and_invite_to_the_target(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    carol = await member(server, "carol", "#chan")
    bob = await server.user("bob")
    await settle(alice)
    assert brief(await alice.request("INVITE bob #chan")) == [("341", ["alice", "bob", "#chan"])]
    got = await bob.recv()
    assert (got.command, nick_of(got.source), got.params) == ("INVITE", "alice", ["bob", "#chan"])
    assert await carol.sync() == []


async def test_invite_of_a_member_is_443(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await alice.request("INVITE bob #chan")) == [("443", ["alice", "bob", "#chan"])]


async def test_invite_by_a_non_member_is_442_and_the_target_gets_nothing(server: RunningServer) -> None:
    await member(server, "alice", "#chan")
    carol = await server.user("carol")
    bob = await server.user("bob")
    assert brief(await carol.request("INVITE bob #chan")) == [("442", ["carol", "#chan"])]
    assert await bob.sync() == []


async def test_invite_of_a_missing_nick_is_401(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("INVITE nobody #chan")) == [("401", ["alice", "nobody"])]


async def test_invite_with_only_a_nick_is_461(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("INVITE bob")) == [("461", ["alice", "INVITE"])]


async def test_invite_to_a_missing_channel_is_403(server: RunningServer) -> None:
    alice = await server.user("alice")
    await server.user("bob")
    assert brief(await alice.request("INVITE bob #nowhere")) == [("403", ["alice", "#nowhere"])]


async def test_invite_to_an_invite_only_channel_needs_op(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    carol = await member(server, "carol", "#chan")
    await server.user("bob")
    await settle(alice)
    assert brief(await alice.request("MODE #chan +i")) == [("MODE", ["#chan", "+i"])]
    await settle(carol)
    assert brief(await carol.request("INVITE bob #chan")) == [("482", ["carol", "#chan"])]


async def test_invite_alone_lists_pending_invitations(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await server.user("bob")
    await alice.request("INVITE bob #chan")
    await settle(bob)
    assert brief(await bob.request("INVITE")) == [("336", ["bob", "#chan"]), ("337", ["bob"])]


async def test_invite_lets_the_target_into_an_invite_only_channel(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +i")
    bob = await server.user("bob")
    assert brief(await bob.request("JOIN #chan")) == [("473", ["bob", "#chan"])]
    await alice.request("INVITE bob #chan")
    await settle(bob)
    reply = await bob.request("JOIN #chan")
    assert reply[0].command == "JOIN"


async def test_invite_overrides_the_user_limit(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +l 1")
    bob = await server.user("bob")
    assert brief(await bob.request("JOIN #chan")) == [("471", ["bob", "#chan"])]
    await alice.request("INVITE bob #chan")
    await settle(bob)
    assert (await bob.request("JOIN #chan"))[0].command == "JOIN"


# -- KICK --------------------------------------------------------------------------------------


async def test_kick_with_a_reason_reaches_every_member(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    carol = await member(server, "carol", "#chan")
    await settle(alice, bob)
    assert brief(await alice.request("KICK #chan bob :bye")) == [("KICK", ["#chan", "bob", "bye"])]
    for client in (bob, carol):
        got = await client.expect("KICK")
        assert (nick_of(got.source), got.params) == ("alice", ["#chan", "bob", "bye"])
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice", "carol"}


async def test_kick_without_a_reason_uses_the_kickers_nick(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await alice.request("KICK #chan bob")) == [("KICK", ["#chan", "bob", "alice"])]
    assert (await bob.expect("KICK")).params == ["#chan", "bob", "alice"]


async def test_kick_of_several_users_sends_one_kick_each(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await member(server, "bob", "#chan")
    await member(server, "carol", "#chan")
    await settle(alice)
    assert brief(await alice.request("KICK #chan bob,carol :bye")) == [
        ("KICK", ["#chan", "bob", "bye"]),
        ("KICK", ["#chan", "carol", "bye"]),
    ]


async def test_kick_with_paired_channels_and_users(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await member(server, "bob", "#chan")
    await member(server, "carol", "#chan")
    await settle(alice)
    assert brief(await alice.request("KICK #chan,#chan bob,carol :bye")) == [
        ("KICK", ["#chan", "bob", "bye"]),
        ("KICK", ["#chan", "carol", "bye"]),
    ]


async def test_kick_by_a_member_without_op_is_482(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await bob.request("KICK #chan alice")) == [("482", ["bob", "#chan"])]
    assert not find(await alice.sync(), "KICK")


async def test_kick_of_a_user_not_in_the_channel_is_441(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await server.user("carol")
    assert brief(await alice.request("KICK #chan carol")) == [("441", ["alice", "carol", "#chan"])]


async def test_kick_by_a_non_member_is_442(server: RunningServer) -> None:
    await member(server, "alice", "#chan")
    carol = await server.user("carol")
    assert brief(await carol.request("KICK #chan alice")) == [("442", ["carol", "#chan"])]


async def test_kick_on_a_missing_channel_is_403(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("KICK #nowhere bob")) == [("403", ["alice", "#nowhere"])]


async def test_a_server_operator_can_kick_without_being_a_member(make_server: ServerFactory) -> None:
    server = await make_server(opers=(oper_config("operuser", "operpassword"),))
    await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    admin = await server.user("root")
    assert find(await admin.request("OPER operuser operpassword"), "381")
    await settle(bob)
    reply = await admin.request("KICK #chan bob :out")
    assert not [m for m in reply if m.command in ERROR_NUMERICS]
    got = await bob.expect("KICK")
    assert (nick_of(got.source), got.params) == ("root", ["#chan", "bob", "out"])


# -- MODE: query, status, errors ---------------------------------------------------------------


async def test_mode_query_gives_exactly_324_and_329(server: RunningServer) -> None:
    alice = await server.user("alice")
    before = int(time.time())
    await alice.request("JOIN #chan")
    await alice.request("MODE #chan +imst")
    reply = await alice.request("MODE #chan")
    assert [m.command for m in reply] == ["324", "329"]
    assert reply[0].params[:2] == ["alice", "#chan"]
    assert mode_letters(reply) >= set("imst")
    assert reply[1].params[:2] == ["alice", "#chan"]
    assert before - 5 <= int(reply[1].params[2]) <= before + 5


async def test_mode_query_shows_key_and_limit_arguments_to_members(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +kl secret 5")
    (line,) = find(await alice.request("MODE #chan"), "324")
    letters = line.params[2]
    assert "k" in letters
    assert "l" in letters
    args = dict(zip([c for c in letters if c in "kl"], line.params[3:], strict=True))
    assert args == {"k": "secret", "l": "5"}


async def test_removing_every_mode_leaves_a_bare_plus(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +imst")
    letters = "".join(sorted(mode_letters(await alice.request("MODE #chan"))))
    assert brief(await alice.request(f"MODE #chan -{letters}")) == [("MODE", ["#chan", "-" + letters])]
    assert find(await alice.request("MODE #chan"), "324")[0].params[2:] == ["+"]


async def test_op_and_voice_are_broadcast_and_shown_in_names(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await alice.request("MODE #chan +o bob")) == [("MODE", ["#chan", "+o", "bob"])]
    got = await bob.expect("MODE")
    assert (nick_of(got.source), got.params) == ("alice", ["#chan", "+o", "bob"])
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice", "@bob"}
    assert brief(await alice.request("MODE #chan -o bob")) == [("MODE", ["#chan", "-o", "bob"])]
    assert brief(await alice.request("MODE #chan +v bob")) == [("MODE", ["#chan", "+v", "bob"])]
    assert names_in(await alice.request("NAMES #chan"), "#chan") == {"@alice", "+bob"}


async def test_several_mode_changes_are_broadcast_as_one_line(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await alice.request("MODE #chan +ov bob bob")) == [("MODE", ["#chan", "+ov", "bob", "bob"])]
    assert brief(await bob.sync()) == [("MODE", ["#chan", "+ov", "bob", "bob"])]


async def test_op_of_a_user_not_in_the_channel_is_441(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await server.user("carol")
    assert brief(await alice.request("MODE #chan +o carol")) == [("441", ["alice", "carol", "#chan"])]


async def test_op_of_a_missing_nick_is_401(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +o nobody")) == [("401", ["alice", "nobody"])]


async def test_mode_on_a_missing_channel_is_403(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("MODE #nowhere +o alice")) == [("403", ["alice", "#nowhere"])]


async def test_mode_change_by_a_member_without_op_is_482(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await settle(alice)
    assert brief(await bob.request("MODE #chan +o bob")) == [("482", ["bob", "#chan"])]
    assert brief(await bob.request("MODE #chan +i")) == [("482", ["bob", "#chan"])]
    assert not find(await alice.sync(), "MODE")


async def test_unknown_channel_mode_is_472(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +Z")) == [("472", ["alice", "Z"])]


# -- MODE: flags -------------------------------------------------------------------------------


async def test_invite_only_refuses_join_with_473(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +i")) == [("MODE", ["#chan", "+i"])]
    bob = await server.user("bob")
    assert brief(await bob.request("JOIN #chan")) == [("473", ["bob", "#chan"])]


async def test_no_external_messages_refuses_outsiders_with_404(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +n")
    carol = await server.user("carol")
    assert brief(await carol.request("PRIVMSG #chan :hi")) == [("404", ["carol", "#chan"])]
    assert brief(await alice.request("MODE #chan -n")) == [("MODE", ["#chan", "-n"])]
    assert await carol.request("PRIVMSG #chan :hi again") == []
    got = await alice.expect("PRIVMSG")
    assert (nick_of(got.source), got.params) == ("carol", ["#chan", "hi again"])


async def test_moderated_channel_needs_voice_to_speak(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await alice.request("MODE #chan +m")
    await settle(bob)
    assert brief(await bob.request("PRIVMSG #chan :hi")) == [("404", ["bob", "#chan"])]
    assert not find(await alice.sync(), "PRIVMSG")
    await alice.request("MODE #chan +v bob")
    await settle(bob)
    assert await bob.request("PRIVMSG #chan :hi") == []
    assert (await alice.expect("PRIVMSG")).params == ["#chan", "hi"]


async def test_key_is_needed_to_join(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +k beer")) == [("MODE", ["#chan", "+k", "beer"])]
    bob = await server.user("bob")
    assert brief(await bob.request("JOIN #chan")) == [("475", ["bob", "#chan"])]
    assert brief(await bob.request("JOIN #chan wine")) == [("475", ["bob", "#chan"])]
    assert (await bob.request("JOIN #chan beer"))[0].command == "JOIN"


async def test_invalid_keys_get_696_with_a_star_and_are_not_set(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    for bad in (":passphrase with spaces", "l" + "o" * 399 + "ng", ":", ": ", "a,b"):
        assert brief(await alice.request(f"MODE #chan +k {bad}")) == [("696", ["alice", "#chan", "k", "*"])]
    bob = await server.user("bob")
    assert (await bob.request("JOIN #chan"))[0].command == "JOIN"


async def test_user_limit_is_enforced_with_471(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +l 2")) == [("MODE", ["#chan", "+l", "2"])]
    await member(server, "bob", "#chan")
    carol = await server.user("carol")
    assert brief(await carol.request("JOIN #chan")) == [("471", ["carol", "#chan"])]
    await settle(alice)
    assert brief(await alice.request("MODE #chan -l")) == [("MODE", ["#chan", "-l"])]
    assert (await carol.request("JOIN #chan"))[0].command == "JOIN"


async def test_invalid_limits_get_696_and_are_not_set(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    for bad in ("0", "-1", "abc"):
        assert brief(await alice.request(f"MODE #chan +l :{bad}")) == [("696", ["alice", "#chan", "l", bad])]
    assert "l" not in mode_letters(await alice.request("MODE #chan"))


# -- MODE: lists -------------------------------------------------------------------------------


async def test_ban_list_add_show_and_remove(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +b bob!*@*")) == [("MODE", ["#chan", "+b", "bob!*@*"])]
    reply = await alice.request("MODE #chan +b")
    assert [m.command for m in reply] == ["367", "368"]
    assert reply[0].params[:3] == ["alice", "#chan", "bob!*@*"]
    assert len(reply[0].params) in (3, 5)
    if len(reply[0].params) == 5:
        assert nick_of(reply[0].params[3]) == "alice"
        assert reply[0].params[4].isdigit()
    assert reply[1].params[:2] == ["alice", "#chan"]
    assert brief(await alice.request("MODE #chan -b bob!*@*")) == [("MODE", ["#chan", "-b", "bob!*@*"])]
    assert brief(await alice.request("MODE #chan +b")) == [("368", ["alice", "#chan"])]


async def test_ban_refuses_join_with_474_ignoring_case(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +b bob!*@*")
    bob = await server.user("Bob")
    assert brief(await bob.request("JOIN #chan")) == [("474", ["Bob", "#chan"])]
    await alice.request("MODE #chan -b bob!*@*")
    assert (await bob.request("JOIN #chan"))[0].command == "JOIN"


async def test_ban_stops_a_member_from_sending_with_404(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    bob = await member(server, "bob", "#chan")
    await alice.request("MODE #chan +b bob!*@*")
    await settle(bob)
    assert brief(await bob.request("PRIVMSG #chan :hi")) == [("404", ["bob", "#chan"])]
    assert not find(await alice.sync(), "PRIVMSG")


async def test_ban_exception_lets_a_matching_user_join(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +b ba*!*@*")
    assert brief(await alice.request("MODE #chan +e bar!*@*")) == [("MODE", ["#chan", "+e", "bar!*@*"])]
    bar = await server.user("bar")
    assert (await bar.request("JOIN #chan"))[0].command == "JOIN"
    baz = await server.user("baz")
    assert brief(await baz.request("JOIN #chan")) == [("474", ["baz", "#chan"])]
    await settle(alice)
    reply = await alice.request("MODE #chan +e")
    assert [m.command for m in reply] == ["348", "349"]
    assert reply[0].params[:3] == ["alice", "#chan", "bar!*@*"]
    assert reply[1].params[:2] == ["alice", "#chan"]


async def test_invite_exception_lets_a_matching_user_into_an_invite_only_channel(server: RunningServer) -> None:
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +i")
    assert brief(await alice.request("MODE #chan +I bar!*@*")) == [("MODE", ["#chan", "+I", "bar!*@*"])]
    bar = await server.user("bar")
    assert (await bar.request("JOIN #chan"))[0].command == "JOIN"
    baz = await server.user("baz")
    assert brief(await baz.request("JOIN #chan")) == [("473", ["baz", "#chan"])]
    await settle(alice)
    reply = await alice.request("MODE #chan +I")
    assert [m.command for m in reply] == ["346", "347"]
    assert reply[0].params[:3] == ["alice", "#chan", "bar!*@*"]
    assert reply[1].params[:2] == ["alice", "#chan"]
    assert brief(await alice.request("MODE #chan -I bar!*@*")) == [("MODE", ["#chan", "-I", "bar!*@*"])]


async def test_account_ban_refuses_the_account_but_not_others(server: RunningServer) -> None:
    await server.add_account("bob", "pw-bob")
    alice = await member(server, "alice", "#chan")
    assert brief(await alice.request("MODE #chan +b $a:bob")) == [("MODE", ["#chan", "+b", "$a:bob"])]
    bob = await server.user("bob", account="bob", password="pw-bob")
    assert brief(await bob.request("JOIN #chan")) == [("474", ["bob", "#chan"])]
    carol = await server.user("carol")
    assert (await carol.request("JOIN #chan"))[0].command == "JOIN"


async def test_account_exception_overrides_a_ban(server: RunningServer) -> None:
    await server.add_account("bob", "pw-bob")
    alice = await member(server, "alice", "#chan")
    await alice.request("MODE #chan +b *!*@*")
    await alice.request("MODE #chan +e $a:bob")
    bob = await server.user("bob", account="bob", password="pw-bob")
    assert (await bob.request("JOIN #chan"))[0].command == "JOIN"
    carol = await server.user("carol")
    assert brief(await carol.request("JOIN #chan")) == [("474", ["carol", "#chan"])]


# -- names with spaces or empty names ---------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "JOIN :#a b",
        "PART :#a b",
        "PART :",
        "TOPIC :#a b",
        "TOPIC :",
        "NAMES :#a b",
        "NAMES :",
        "MODE :#a b",
        "MODE #chan +o :a b",
        "KICK #chan :a b",
        "INVITE bob :#a b",
    ],
)
async def test_odd_channel_or_nick_params_get_an_error_reply_and_no_disconnect(
    server: RunningServer, line: str
) -> None:
    alice = await member(server, "alice", "#chan")
    await server.user("bob")
    reply = await alice.request(line)
    assert reply, "no reply at all"
    assert "400" not in [m.command for m in reply], reply
    assert await alice.sync() == []


# -- persistence -------------------------------------------------------------------------------


async def _populate(server: RunningServer) -> None:
    """alice creates #keep with a topic, modes and lists; bob joins it and is voiced."""
    await server.add_account("alice", "pw-alice")
    await server.add_account("bob", "pw-bob")
    alice = await member(server, "alice", "#keep", account="alice", password="pw-alice")
    for line in (
        "TOPIC #keep :kept topic",
        "MODE #keep +ms",
        "MODE #keep +kl sesame 10",
        "MODE #keep +b evil!*@*",
        "MODE #keep +e good!*@*",
        "MODE #keep +I friend!*@*",
    ):
        reply = await alice.request(line)
        assert not [m for m in reply if m.command in ERROR_NUMERICS], (line, reply)
    bob = await server.user("bob", account="bob", password="pw-bob")
    assert find(await bob.request("JOIN #keep sesame"), "JOIN")
    assert find(await alice.request("MODE #keep +v bob"), "MODE")


async def test_topic_modes_and_lists_survive_a_restart(make_server: ServerFactory) -> None:
    first = await make_server()
    await _populate(first)
    before = await first.clients[0].request("TOPIC #keep")
    created = find(await first.clients[0].request("MODE #keep"), "329")[0].params
    await first.stop()
    second = await make_server()
    alice = await second.connect()
    burst = await alice.register("alice", account="alice", password="pw-alice")
    assert [m.params for m in find(burst, "JOIN")] == [["#keep"]]
    assert find(burst, "332")[0].params == ["alice", "#keep", "kept topic"]
    assert brief(await alice.request("TOPIC #keep")) == brief(before)
    reply = await alice.request("MODE #keep")
    assert find(reply, "329")[0].params == created
    assert mode_letters(reply) >= set("mskl")
    for letter, item, mask in (("b", "367", "evil!*@*"), ("e", "348", "good!*@*"), ("I", "346", "friend!*@*")):
        assert [m.params[2] for m in find(await alice.request(f"MODE #keep +{letter}"), item)] == [mask]


async def test_accounts_are_back_in_their_channels_with_their_status_after_a_restart(
    make_server: ServerFactory,
) -> None:
    first = await make_server()
    await _populate(first)
    await first.stop()
    second = await make_server()
    alice = await second.user("alice", account="alice", password="pw-alice")
    bob = await second.connect()
    burst = await bob.register("bob", account="bob", password="pw-bob")
    assert [m.params for m in find(burst, "JOIN")] == [["#keep"]]
    assert names_in(burst, "#keep") == {"@alice", "+bob"}
    assert names_in(await alice.request("NAMES #keep"), "#keep") == {"@alice", "+bob"}


async def test_a_parted_channel_is_not_rejoined_after_a_restart(make_server: ServerFactory) -> None:
    first = await make_server()
    await _populate(first)
    alice = first.clients[0]
    assert find(await alice.request("PART #keep"), "PART")
    await first.stop()
    second = await make_server()
    alice = await second.connect()
    burst = await alice.register("alice", account="alice", password="pw-alice")
    assert not find(burst, "JOIN")
    assert brief(await alice.request("JOIN #keep")) == [("475", ["alice", "#keep"])]


async def test_default_channel_is_joined_by_guests_at_login(make_server: ServerFactory) -> None:
    server = await make_server(default_channel="#general")
    alice = await server.connect()
    burst = await alice.register("alice")
    assert [m.params for m in find(burst, "JOIN")] == [["#general"]]
    assert find(burst, "366")[0].params[:2] == ["alice", "#general"]
    bob = await server.connect()
    burst = await bob.register("bob")
    assert "bob" in {entry.lstrip("@+") for entry in names_in(burst, "#general")}
    assert "alice" in {entry.lstrip("@+") for entry in names_in(burst, "#general")}


async def test_default_channel_is_joined_by_accounts_at_login(make_server: ServerFactory) -> None:
    server = await make_server(default_channel="#general", allow_guests=False)
    await server.add_account("alice", "pw-alice")
    alice = await server.connect()
    burst = await alice.register("alice", account="alice", password="pw-alice")
    assert [m.params for m in find(burst, "JOIN")] == [["#general"]]
    assert [m.command for m in burst if m.command in ("JOIN", "353", "366")] == ["JOIN", "353", "366"]


async def test_nobody_founds_the_default_channel_admins_run_it(make_server: ServerFactory) -> None:
    server = await make_server(default_channel="#general", allow_guests=False)
    await server.add_account("worker", "pw")
    await server.add_account("boss", "pw", admin=True)
    await server.user("worker", account="worker", password="pw")  # the first one in: no op
    boss = await server.user("boss", account="boss", password="pw")
    names = find(await boss.request("NAMES #general"), "353")
    assert sorted(" ".join(m.params[-1] for m in names).split()) == ["@boss", "worker"]
