"""Queries and user state end to end over loopback: WHO/WHOX, WHOIS, WHOWAS, ISON, USERHOST,
AWAY, MONITOR, MOTD, LUSERS, VERSION, TIME, HELP, SETNAME, user modes, bot mode, OPER, KILL,
WALLOPS and RPL_ISUPPORT. Expectations follow the modern IRC spec, the IRCv3 specs and irctest
(see notes/specs.md and notes/irctest-report.md §6)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest
import pytest_asyncio

from lanchat.config import OperConfig
from lanchat.core.passwords import HashParams, PasswordHasher
from lanchat.proto.message import Message
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, find

#: Numerics whose last parameter is free-form text (dropped by :func:`brief`).
_TEXT = (
    "005 251 252 253 254 255 265 266 305 306 312 313 315 317 318 330 335 338 351 369 372 375 376 381 391 401 "
    "406 422 431 461 464 481 501 502 524 704 705 706 733 734"
)
TEXT_NUMERICS = frozenset(_TEXT.split(" "))
REALNAME = "My UniqueReal Name"
OPER_NAME = "operuser"
OPER_PASSWORD = "operpassword"
OPER = OperConfig(
    OPER_NAME, PasswordHasher(HashParams(time_cost=1, memory_kib=8192, parallelism=1)).hash(OPER_PASSWORD)
)


def brief(messages: Iterable[Message]) -> list[tuple[str, list[str]]]:
    """(command, params) of each message, without the free-form text of numerics."""
    return [(m.command, m.params[:-1] if m.command in TEXT_NUMERICS else m.params) for m in messages]


def nick_of(source: str | None) -> str:
    """The nick part of a ``nick!user@host`` source."""
    return (source or "").split("!", 1)[0]


def isupport(messages: Iterable[Message]) -> dict[str, str | None]:
    """The tokens of the 005 lines: name -> value (None when sent bare)."""
    tokens: dict[str, str | None] = {}
    for m in find(messages, "005"):
        for token in m.params[1:-1]:
            name, sep, value = token.partition("=")
            tokens[name] = value if sep else None
    return tokens


def integers(text: str) -> list[int]:
    """The whole numbers in a text."""
    return [int(n) for n in re.findall(r"\d+", text)]


def who_rows(reply: Iterable[Message]) -> dict[str, list[str]]:
    """352 replies by nick: [channel, user, host, server, flags, trailing]."""
    return {m.params[5]: [*m.params[1:5], *m.params[6:]] for m in find(reply, "352")}


@pytest_asyncio.fixture
async def oper_server(make_server: ServerFactory) -> RunningServer:
    """A server with one configured operator (OPER operuser operpassword)."""
    return await make_server(opers=(OPER,))


async def who_pair(server: RunningServer) -> tuple[IrcTestClient, IrcTestClient]:
    """irctest's WHO setup: coolNick (user myusernam) creates #chan, otherNick joins it."""
    cool = await server.user("coolNick", user="myusernam", realname=REALNAME)
    await cool.request("JOIN #chan")
    other = await server.user("otherNick")
    await other.request("JOIN #chan")
    await cool.sync()
    return cool, other


async def become_oper(client: IrcTestClient) -> None:
    """OPER with the configured operator."""
    assert find(await client.request(f"OPER {OPER_NAME} {OPER_PASSWORD}"), "381")


async def raw_next(client: IrcTestClient, command: str) -> bytes:
    """The next raw line with that command (tags kept byte for byte)."""
    while True:
        line = await client.recv_line()
        words = line.split(b" ")
        while words and words[0][:1] in (b"@", b":"):
            words.pop(0)
        if words and words[0].decode() == command:
            return line


def tag_items(line: bytes) -> list[str]:
    """The raw ``key[=value]`` items of a line's tag section."""
    if not line.startswith(b"@"):
        return []
    return line[1:].split(b" ", 1)[0].decode().split(";")


async def gone(watcher: IrcTestClient, leaver: IrcTestClient) -> None:
    """Make ``leaver`` QUIT and wait until ``watcher`` (sharing a channel) sees the QUIT."""
    nick = leaver.nick
    await leaver.send("QUIT :bye")
    await leaver.closed()
    await watcher.expect("QUIT", lambda m: nick_of(m.source) == nick)


# -- WHO ---------------------------------------------------------------------------------------


async def test_who_channel_lists_members_then_315_echoing_the_mask(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHO #chan")
    assert [m.command for m in reply] == ["352", "352", "315"]
    assert all(m.params[0] == "otherNick" for m in reply)
    rows = who_rows(reply)
    channel, user, host, server_name, flags, trailing = rows["coolNick"]
    assert (channel, user, server_name, flags) == ("#chan", "~myusernam", server.config.server_name, "H@")
    assert re.fullmatch(r"[0-9A-Za-z_:.-]+", host)
    assert re.fullmatch(r"\d+ My UniqueReal Name", trailing)
    assert rows["otherNick"][0] == "#chan"
    assert rows["otherNick"][4] == "H"
    assert brief(reply[-1:]) == [("315", ["otherNick", "#chan"])]


async def test_who_channel_is_case_insensitive_and_315_keeps_the_case_sent(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHO #CHAN")
    assert {row[0] for row in who_rows(reply).values()} == {"#chan"}
    assert len(who_rows(reply)) == 2
    assert brief(reply[-1:]) == [("315", ["otherNick", "#CHAN"])]


@pytest.mark.parametrize("mask", ["coolNick", "coolnick", "cooln*", "*UniqueReal*"])
async def test_who_nick_or_mask_gives_the_one_match(server: RunningServer, mask: str) -> None:
    _, other = await who_pair(server)
    reply = await other.request(f"WHO :{mask}")
    assert [m.command for m in reply] == ["352", "315"]
    channel, user, _, _, flags, trailing = who_rows(reply)["coolNick"]
    assert channel in ("*", "#chan")
    assert user == "~myusernam"
    assert flags == ("H@" if channel == "#chan" else "H")
    assert trailing.endswith(" " + REALNAME)
    assert brief(reply[-1:]) == [("315", ["otherNick", mask])]


async def test_who_realname_mask_with_a_space_gives_the_match_and_315(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHO :*UniqueReal Name")
    assert [m.command for m in reply] == ["352", "315"]
    assert set(who_rows(reply)) == {"coolNick"}
    assert reply[1].params[0] == "otherNick"


async def test_who_star_lists_every_visible_user(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHO *")
    assert set(who_rows(reply)) == {"coolNick", "otherNick"}
    assert brief(reply[-1:]) == [("315", ["otherNick", "*"])]


async def test_who_unknown_nick_is_315_only(server: RunningServer) -> None:
    _, other = await who_pair(server)
    assert brief(await other.request("WHO idontexist")) == [("315", ["otherNick", "idontexist"])]


async def test_who_masks_hide_invisible_users_unless_a_channel_is_shared(server: RunningServer) -> None:
    _, other = await who_pair(server)
    evan = await server.user("evan")
    await evan.request("MODE evan +i")
    assert brief(await other.request("WHO eva*")) == [("315", ["otherNick", "eva*"])]
    assert "evan" not in who_rows(await other.request("WHO *"))
    assert set(who_rows(await other.request("WHO evan"))) == {"evan"}
    await evan.request("JOIN #chan")
    await other.sync()
    assert set(who_rows(await other.request("WHO eva*"))) == {"evan"}


async def test_who_flags_show_away_as_g(server: RunningServer) -> None:
    cool, other = await who_pair(server)
    await cool.request("AWAY :gone")
    assert who_rows(await other.request("WHO #chan"))["coolNick"][4] == "G@"
    assert who_rows(await other.request("WHO coolNick"))["coolNick"][4] in ("G", "G@")


async def test_who_flags_show_an_operator_with_a_star(oper_server: RunningServer) -> None:
    cool, other = await who_pair(oper_server)
    await become_oper(cool)
    assert who_rows(await other.request("WHO #chan"))["coolNick"][4] == "H*@"
    assert who_rows(await other.request("WHO coolNick"))["coolNick"][4] in ("H*", "H*@")


async def test_who_flags_show_a_bot_with_b(server: RunningServer) -> None:
    cool, other = await who_pair(server)
    await cool.request("MODE coolNick +B")
    reply = await other.request("WHO #chan")
    assert [m.command for m in reply[:2]] == ["352", "352"]
    flags = who_rows(reply)["coolNick"][4]
    assert flags.startswith("H@")
    assert "B" in flags


@pytest.mark.parametrize("fields", ["tcuihsnfdlaor", "roalfdnshiuct"])
async def test_whox_fields_come_in_the_fixed_order_with_the_token(server: RunningServer, fields: str) -> None:
    _, other = await who_pair(server)
    reply = await other.request(f"WHO coolNick %{fields},123")
    assert [m.command for m in reply] == ["354", "315"]
    params = reply[0].params
    assert len(params) == 14
    me, token, channel, user, ip, host, server_name, nick, flags, hops, idle, account, oplevel, realname = params
    assert (me, token, user, server_name, nick, account, realname) == (
        "otherNick",
        "123",
        "~myusernam",
        server.config.server_name,
        "coolNick",
        "0",
        REALNAME,
    )
    assert channel in ("*", "#chan")
    assert flags == ("H@" if channel == "#chan" else "H")
    assert ip
    assert host
    assert oplevel
    assert hops.isdigit()
    assert re.fullmatch(r"\d", idle)
    assert brief(reply[-1:]) == [("315", ["otherNick", "coolNick"])]


async def test_whox_token_and_nick_only(server: RunningServer) -> None:
    _, other = await who_pair(server)
    assert brief(await other.request("WHO coolNick %tn,321")) == [
        ("354", ["otherNick", "321", "coolNick"]),
        ("315", ["otherNick", "coolNick"]),
    ]


async def test_whox_account_is_zero_when_logged_out_and_the_name_when_logged_in(server: RunningServer) -> None:
    await server.add_account("acct", "pw-acct")
    await server.user("acct", account="acct", password="pw-acct")
    _, other = await who_pair(server)
    assert find(await other.request("WHO coolNick %na"), "354")[0].params == ["otherNick", "coolNick", "0"]
    assert find(await other.request("WHO acct %na"), "354")[0].params == ["otherNick", "acct", "acct"]


async def test_whox_each_single_field_gives_exactly_one_value(server: RunningServer) -> None:
    _, other = await who_pair(server)
    for letter in "cuihsnfdlaor":
        reply = await other.request(f"WHO coolNick %{letter}")
        assert [m.command for m in reply] == ["354", "315"], letter
        assert len(reply[0].params) == 2, (letter, reply[0].params)
        assert reply[0].params[1], letter


# -- WHOIS -------------------------------------------------------------------------------------


async def test_whois_gives_user_channels_server_idle_and_end(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHOIS coolNick")
    assert reply[0].params == ["otherNick", "coolNick", "~myusernam", "127.0.0.1", "*", REALNAME]
    assert brief(reply[-1:]) == [("318", ["otherNick", "coolNick"])]
    assert sorted(m.command for m in reply) == ["311", "312", "317", "318", "319"]
    (channels,) = find(reply, "319")
    assert channels.params[:2] == ["otherNick", "coolNick"]
    assert channels.params[2].split() == ["@#chan"]
    (server_line,) = find(reply, "312")
    assert server_line.params[:3] == ["otherNick", "coolNick", server.config.server_name]
    (idle,) = find(reply, "317")
    assert idle.params[:2] == ["otherNick", "coolNick"]
    assert idle.params[2].isdigit()
    assert idle.params[3].isdigit()


async def test_whois_shows_away_operator_account_and_bot(oper_server: RunningServer) -> None:
    await oper_server.add_account("target", "pw-target")
    target = await oper_server.user("target", account="target", password="pw-target")
    await become_oper(target)
    await target.request("AWAY :I'm on a break")
    await target.request("MODE target +B")
    asker = await oper_server.user("asker")
    reply = await asker.request("WHOIS target")
    got = brief(reply)
    assert [p for c, p in got if c == "301"] == [["asker", "target", "I'm on a break"]]
    assert [p for c, p in got if c == "313"] == [["asker", "target"]]
    assert [p for c, p in got if c == "330"] == [["asker", "target", "target"]]
    assert [p for c, p in got if c == "335"] == [["asker", "target"]]
    assert got[-1] == ("318", ["asker", "target"])


async def test_whois_of_a_plain_user_has_no_away_operator_account_or_bot_lines(server: RunningServer) -> None:
    _, other = await who_pair(server)
    commands = {m.command for m in await other.request("WHOIS coolNick")}
    assert not commands & {"301", "313", "330", "335"}


async def test_whois_of_a_missing_nick_is_401_then_318(server: RunningServer) -> None:
    qux = await server.user("qux")
    assert brief(await qux.request("WHOIS bar")) == [("401", ["qux", "bar"]), ("318", ["qux", "bar"])]


@pytest.mark.parametrize("line", ["WHOIS {server} coolNick", "WHOIS coolNick coolNick", "WHOIS  coolNick"])
async def test_whois_variants_start_with_311(server: RunningServer, line: str) -> None:
    _, other = await who_pair(server)
    reply = await other.request(line.format(server=server.config.server_name))
    assert reply[0].command == "311"
    assert reply[0].params[1] == "coolNick"


async def test_whois_318_keeps_the_nick_as_sent(server: RunningServer) -> None:
    _, other = await who_pair(server)
    reply = await other.request("WHOIS COOLNICK")
    assert reply[0].params[1] == "coolNick"
    assert brief(reply[-1:]) == [("318", ["otherNick", "COOLNICK"])]


async def test_whois_hides_secret_channels_the_asker_does_not_share(server: RunningServer) -> None:
    cool, other = await who_pair(server)
    await cool.request("JOIN #hidden")
    await cool.request("MODE #hidden +s")
    (channels,) = find(await other.request("WHOIS coolNick"), "319")
    assert channels.params[2].split() == ["@#chan"]


# -- WHOWAS ------------------------------------------------------------------------------------


async def _session(server: RunningServer, ident: str) -> IrcTestClient:
    client = await server.user("nick2", user=ident, realname="Realname")
    await client.request("JOIN #room")
    return client


async def test_whowas_after_quit_gives_314_then_369(server: RunningServer) -> None:
    nick1 = await server.user("nick1")
    await nick1.request("JOIN #room")
    await gone(nick1, await _session(server, "ident2"))
    reply = await nick1.request("WHOWAS nick2")
    assert reply[0].params == ["nick1", "nick2", "~ident2", "127.0.0.1", "*", "Realname"]
    assert {m.command for m in reply} <= {"314", "312", "338", "369"}
    for line in find(reply, "312"):
        assert line.params[:3] == ["nick1", "nick2", server.config.server_name]
    assert brief(reply[-1:]) == [("369", ["nick1", "nick2"])]


async def test_whowas_lists_newest_first_up_to_the_count(server: RunningServer) -> None:
    nick1 = await server.user("nick1")
    await nick1.request("JOIN #room")
    await gone(nick1, await _session(server, "ident2"))
    await gone(nick1, await _session(server, "ident3"))

    async def users(line: str) -> list[str]:
        return [m.params[2] for m in find(await nick1.request(line), "314")]

    assert await users("WHOWAS nick2") == ["~ident3", "~ident2"]
    assert await users("WHOWAS nick2 1") == ["~ident3"]
    for count in ("2", "-1", "0"):
        assert await users(f"WHOWAS nick2 {count}") == ["~ident3", "~ident2"]


async def test_whowas_of_an_unknown_nick_is_406_then_369(server: RunningServer) -> None:
    nick1 = await server.user("nick1")
    assert brief(await nick1.request("WHOWAS nick2")) == [("406", ["nick1", "nick2"]), ("369", ["nick1", "nick2"])]


async def test_whowas_without_a_nick_is_431_or_461(server: RunningServer) -> None:
    nick1 = await server.user("nick1")
    assert brief(await nick1.request("WHOWAS")) in ([("431", ["nick1"])], [("461", ["nick1", "WHOWAS"])])


@pytest.mark.parametrize(
    "line",
    ["WHO :", "WHO :no such name", "WHOIS :", "WHOIS :a b", "WHOWAS :", "WHOWAS :a b", "MODE :a b"],
)
async def test_odd_nick_params_get_a_reply_and_no_disconnect(server: RunningServer, line: str) -> None:
    alice = await server.user("alice")
    reply = await alice.request(line)
    assert reply, "no reply at all"
    assert "400" not in [m.command for m in reply], reply
    assert await alice.sync() == []


# -- ISON / USERHOST / AWAY ---------------------------------------------------------------------


async def test_ison_lists_the_online_nicks_as_given(server: RunningServer) -> None:
    await who_pair(server)
    asker = await server.user("asker")
    assert brief(await asker.request("ISON coolNick nobody OTHERNICK")) == [("303", ["asker", "coolNick OTHERNICK"])]


async def test_ison_without_nicks_is_461(server: RunningServer) -> None:
    asker = await server.user("asker")
    assert brief(await asker.request("ISON")) == [("461", ["asker", "ISON"])]


async def test_userhost_marks_away_users_with_a_minus(server: RunningServer) -> None:
    bar = await server.user("bar")
    qux = await server.user("qux")
    assert brief(await qux.request("USERHOST bar nobody")) == [("302", ["qux", "bar=+~bar@127.0.0.1"])]
    await bar.request("AWAY :out")
    assert brief(await qux.request("USERHOST bar")) == [("302", ["qux", "bar=-~bar@127.0.0.1"])]


async def test_userhost_marks_operators_with_a_star(oper_server: RunningServer) -> None:
    bar = await oper_server.user("bar")
    await become_oper(bar)
    qux = await oper_server.user("qux")
    assert brief(await qux.request("USERHOST bar")) == [("302", ["qux", "bar*=+~bar@127.0.0.1"])]


async def test_userhost_without_nicks_is_461(server: RunningServer) -> None:
    qux = await server.user("qux")
    assert brief(await qux.request("USERHOST")) == [("461", ["qux", "USERHOST"])]


async def test_away_sets_with_306_and_clears_with_305(server: RunningServer) -> None:
    bar = await server.user("bar")
    assert brief(await bar.request("AWAY :I'm not here right now")) == [("306", ["bar"])]
    assert brief(await bar.request("AWAY")) == [("305", ["bar"])]
    await bar.request("AWAY :again")
    assert brief(await bar.request("AWAY :")) == [("305", ["bar"])]


async def test_messages_to_an_away_user_get_301_each_time(server: RunningServer) -> None:
    bar = await server.user("bar")
    qux = await server.user("qux")
    assert await qux.request("PRIVMSG bar :hello") == []
    await bar.request("AWAY :I'm not here right now")
    for _ in range(2):
        assert brief(await qux.request("PRIVMSG bar :hello")) == [("301", ["qux", "bar", "I'm not here right now"])]


# -- MONITOR -----------------------------------------------------------------------------------


async def test_monitor_reports_an_offline_nick_then_its_arrival_and_departure(server: RunningServer) -> None:
    foo = await server.user("foo")
    assert brief(await foo.request("MONITOR + bar")) == [("731", ["foo", "bar"])]
    bar = await server.user("bar")
    got = await foo.recv()
    assert (got.command, got.params) == ("730", ["foo", "bar!~bar@127.0.0.1"])
    await bar.send("QUIT :bye")
    await bar.closed()
    got = await foo.recv()
    assert (got.command, got.params) == ("731", ["foo", "bar"])


async def test_monitor_of_an_online_nick_is_730(server: RunningServer) -> None:
    await server.user("bar")
    foo = await server.user("foo")
    reply = await foo.request("MONITOR + bar")
    assert len(reply) == 1
    assert reply[0].command == "730"
    assert reply[0].params[0] == "foo"
    assert re.fullmatch(r"bar(!.*)?", reply[0].params[1])


async def test_monitor_of_several_nicks_splits_online_and_offline(server: RunningServer) -> None:
    await server.user("bar")
    foo = await server.user("foo")
    reply = await foo.request("MONITOR + bar,baz")
    assert sorted(m.command for m in reply) == ["730", "731"]
    assert find(reply, "731")[0].params == ["foo", "baz"]
    assert nick_of(find(reply, "730")[0].params[1]) == "bar"
    reply = await foo.request("MONITOR S")
    assert sorted(m.command for m in reply) == ["730", "731"]


async def test_monitor_list_remove_and_clear(server: RunningServer) -> None:
    foo = await server.user("foo")
    await foo.request("MONITOR + qux,bazbat")
    reply = await foo.request("MONITOR L")
    assert [m.command for m in reply][-1] == "733"
    assert {n for m in find(reply, "732") for n in m.params[1].split(",")} == {"qux", "bazbat"}
    assert await foo.request("MONITOR - qux") == []
    assert [m.params[1] for m in find(await foo.request("MONITOR L"), "732")] == ["bazbat"]
    assert await foo.request("MONITOR C") == []
    assert brief(await foo.request("MONITOR L")) == [("733", ["foo"])]
    await server.user("bazbat")
    assert await foo.sync() == []


async def test_monitor_follows_nick_changes_but_not_case_changes(server: RunningServer) -> None:
    foo = await server.user("foo")
    await foo.request("MONITOR + qux")
    bar = await server.user("bar")
    await bar.request("NICK qux")
    got = await foo.recv()
    assert got.command == "730"
    assert nick_of(got.params[1]) == "qux"
    await bar.request("NICK QUX")
    assert await foo.sync() == []
    await bar.request("NICK bazbat")
    got = await foo.recv()
    assert (got.command, got.params) == ("731", ["foo", "QUX"])


async def test_monitor_full_list_is_734_naming_only_the_targets_that_did_not_fit(server: RunningServer) -> None:
    foo = await server.connect()
    limit_text = isupport(await foo.register("foo"))["MONITOR"]
    assert limit_text is not None
    assert limit_text.isdigit()
    limit = int(limit_text)
    names = [f"m{i}" for i in range(limit - 1)]
    for start in range(0, len(names), 50):
        await foo.request("MONITOR + " + ",".join(names[start : start + 50]))
    assert brief(await foo.request("MONITOR + extra1,extra2")) == [
        ("731", ["foo", "extra1"]),
        ("734", ["foo", str(limit), "extra2"]),
    ]
    assert brief(await foo.request("MONITOR + extra3")) == [("734", ["foo", str(limit), "extra3"])]


# -- MOTD / LUSERS / VERSION / TIME / HELP ------------------------------------------------------


async def test_motd_is_375_then_372_lines_then_376(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("MOTD")
    commands = [m.command for m in reply]
    assert commands[0] == "375"
    assert commands[-1] == "376"
    assert set(commands[1:-1]) == {"372"}
    assert all(len(m.params) == 2 and m.params[0] == "alice" for m in reply)


async def test_empty_motd_is_422_also_at_registration(make_server: ServerFactory) -> None:
    server = await make_server(motd="")
    alice = await server.connect()
    burst = await alice.register("alice")
    assert "422" in [m.command for m in burst]
    assert "375" not in [m.command for m in burst]
    assert brief(await alice.request("MOTD")) == [("422", ["alice"])]


async def test_motd_for_another_server_is_402(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("MOTD other.example")
    assert [(m.command, m.params[:2]) for m in reply] == [("402", ["alice", "other.example"])]


async def test_lusers_counts_users_invisible_unregistered_and_channels(server: RunningServer) -> None:
    alice = await server.user("alice")
    await alice.request("JOIN #chan")
    bob = await server.user("bob")
    await bob.request("MODE bob +i")
    pending = await server.connect()
    await pending.request("NICK pending")
    reply = await alice.request("LUSERS")
    commands = [m.command for m in reply]
    assert len(commands) == len(set(commands))
    assert all(m.params[0] == "alice" for m in reply)
    by = {m.command: m for m in reply}
    assert len(by["251"].params) == 2
    users, invisible, _servers = integers(by["251"].params[1])
    assert (users, invisible) == (1, 1)
    assert by["252"].params[1] == "0"
    assert by["253"].params[1] == "1"
    assert by["254"].params[1] == "1"
    assert integers(by["255"].params[1])[0] == 2
    assert by["265"].params[1:3] == ["2", "2"]
    assert by["266"].params[1:3] == ["2", "2"]


async def test_lusers_local_users_keep_the_peak_after_a_quit(server: RunningServer) -> None:
    alice = await server.user("alice")
    await alice.request("JOIN #chan")
    bob = await server.user("bob")
    await bob.request("JOIN #chan")
    await gone(alice, bob)
    reply = await alice.request("LUSERS")
    assert find(reply, "265")[0].params[1:3] == ["1", "2"]
    assert integers(find(reply, "255")[0].params[1])[0] == 1


async def test_lusers_counts_follow_quits_nick_changes_and_finished_registrations(server: RunningServer) -> None:
    alice = await server.user("alice")
    await alice.request("JOIN #chan")
    bob = await server.user("bob")
    await bob.request("JOIN #chan")
    await bob.request("MODE bob +i")
    await bob.request("NICK bobby")
    by = {m.command: m for m in await alice.request("LUSERS")}
    assert integers(by["251"].params[1])[:2] == [1, 1]
    await bob.send("QUIT :bye")
    await bob.closed()
    await alice.expect("QUIT", lambda m: nick_of(m.source) == "bobby")
    pending = await server.connect()
    await pending.request("NICK carol")
    by = {m.command: m for m in await alice.request("LUSERS")}
    assert integers(by["251"].params[1])[:2] == [1, 0]
    assert by["253"].params[1] == "1"
    await pending.register("carol")
    by = {m.command: m for m in await alice.request("LUSERS")}
    assert integers(by["251"].params[1])[:2] == [2, 0]
    assert by["253"].params[1] == "0"
    dropped = await server.connect()
    await dropped.request("NICK dave")
    assert len(server.app.irc.registering) == 1
    await dropped.close()
    for _ in range(50):  # the server sees the close in its own time
        if not server.app.irc.registering:
            break
        await alice.request("PING :wait")
    assert not server.app.irc.registering
    assert find(await alice.request("LUSERS"), "253")[0].params[1] == "0"


async def test_lusers_counts_a_user_on_two_connections_once_until_the_last_one_leaves(
    make_server: ServerFactory,
) -> None:
    server = await make_server(allow_guests=False)
    await server.add_account("alice", "pw-alice")
    await server.add_account("bob", "pw-bob")
    alice = await server.user("alice", account="alice", password="pw-alice")
    laptop = await server.user("bob", account="bob", password="pw-bob")
    phone = await server.user("bob", account="bob", password="pw-bob")
    await laptop.request("MODE bob +i")

    async def invisible() -> int:
        return integers(find(await alice.request("LUSERS"), "251")[0].params[1])[1]

    assert await invisible() == 1
    await phone.send("QUIT :phone off")
    await phone.closed()
    assert await invisible() == 1
    await laptop.send("QUIT :laptop off")
    await laptop.closed()
    for _ in range(50):  # the server sees the close in its own time
        if await invisible() == 0:
            break
    assert await invisible() == 0


async def test_lusers_stops_counting_an_operator_who_quits(oper_server: RunningServer) -> None:
    alice = await oper_server.user("alice")
    await alice.request("JOIN #chan")
    boss = await oper_server.user("boss")
    await boss.request("JOIN #chan")
    await become_oper(boss)
    assert find(await alice.request("LUSERS"), "252")[0].params[1] == "1"
    await gone(alice, boss)
    assert find(await alice.request("LUSERS"), "252")[0].params[1] == "0"


async def test_lusers_counts_operators(oper_server: RunningServer) -> None:
    alice = await oper_server.user("alice")
    await become_oper(alice)
    assert find(await alice.request("LUSERS"), "252")[0].params[1] == "1"
    await alice.request("MODE alice -o")
    assert find(await alice.request("LUSERS"), "252")[0].params[1] == "0"


async def test_version_is_351_then_005(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("VERSION")
    assert reply[0].command == "351"
    assert len(reply[0].params) == 4
    assert reply[0].params[0] == "alice"
    assert reply[0].params[2] == server.config.server_name
    assert len(reply) > 1
    assert {m.command for m in reply[1:]} == {"005"}


async def test_time_is_391_naming_the_server(server: RunningServer) -> None:
    alice = await server.user("alice")
    reply = await alice.request("TIME")
    assert [m.command for m in reply] == ["391"]
    assert reply[0].params[:2] == ["alice", server.config.server_name]
    assert 3 <= len(reply[0].params) <= 5
    assert reply[0].params[-1]


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
async def test_help_without_subject_is_704_705_706(server: RunningServer, verb: str) -> None:
    alice = await server.user("alice")
    reply = await alice.request(verb)
    commands = [m.command for m in reply]
    assert commands[0] == "704"
    assert commands[-1] == "706"
    assert set(commands[1:-1]) == {"705"}
    assert len({m.params[1] for m in reply}) == 1


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
async def test_help_on_a_command_names_it_on_every_line(server: RunningServer, verb: str) -> None:
    alice = await server.user("alice")
    reply = await alice.request(f"{verb} PRIVMSG")
    assert reply[0].command == "704"
    assert reply[-1].command == "706"
    assert all(m.params[1].lower() == "privmsg" for m in reply)


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
async def test_help_on_an_unknown_subject_is_524(server: RunningServer, verb: str) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request(f"{verb} THISISNOTACOMMAND")) == [("524", ["alice", "THISISNOTACOMMAND"])]


@pytest.mark.parametrize("line", ["HELP :", "HELP :no such subject", "MOTD :a b"])
async def test_odd_help_and_motd_params_get_a_reply_and_no_disconnect(server: RunningServer, line: str) -> None:
    alice = await server.user("alice")
    reply = await alice.request(line)
    assert reply, "no reply at all"
    assert "400" not in [m.command for m in reply], reply


# -- SETNAME -----------------------------------------------------------------------------------


async def test_setname_is_echoed_and_shown_by_whois(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["setname"])
    reply = await foo.request("SETNAME bar")
    assert brief(reply) == [("SETNAME", ["bar"])]
    assert nick_of(reply[0].source) == "foo"
    assert find(await foo.request("WHOIS foo"), "311")[0].params[-1] == "bar"


async def test_setname_reaches_only_peers_with_the_capability(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["setname"])
    await foo.request("JOIN #chan")
    capable = await server.user("capable", caps=["setname"])
    await capable.request("JOIN #chan")
    plain = await server.user("plain")
    await plain.request("JOIN #chan")
    await foo.request("SETNAME :new name")
    got = await capable.expect("SETNAME")
    assert (nick_of(got.source), got.params) == ("foo", ["new name"])
    assert not find(await plain.sync(), "SETNAME")


async def test_setname_refuses_empty_and_too_long_names(server: RunningServer) -> None:
    foo = await server.connect()
    namelen = isupport(await foo.register("foo", caps=["setname"]))["NAMELEN"]
    assert namelen is not None
    for bad in ("", "x" * (int(namelen) + 1)):
        reply = await foo.request(f"SETNAME :{bad}")
        assert [(m.command, m.params[:2], len(m.params)) for m in reply] == [
            ("FAIL", ["SETNAME", "INVALID_REALNAME"], 3)
        ]
    assert find(await foo.request("WHOIS foo"), "311")[0].params[-1] == "Test User"


# -- user modes and bot mode -------------------------------------------------------------------


async def test_user_mode_is_set_echoed_and_queried_with_221(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("MODE alice +i")) == [("MODE", ["alice", "+i"])]
    assert brief(await alice.request("MODE alice")) == [("221", ["alice", "+i"])]
    assert brief(await alice.request("MODE alice -i")) == [("MODE", ["alice", "-i"])]
    assert brief(await alice.request("MODE alice +w")) == [("MODE", ["alice", "+w"])]


async def test_user_mode_of_someone_else_is_502(server: RunningServer) -> None:
    alice = await server.user("alice")
    await server.user("bob")
    assert brief(await alice.request("MODE bob")) == [("502", ["alice"])]
    assert brief(await alice.request("MODE bob +i")) == [("502", ["alice"])]


async def test_user_mode_of_a_missing_nick_is_401(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("MODE nobody")) == [("401", ["alice", "nobody"])]


async def test_unknown_user_mode_is_501_after_applying_known_ones(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("MODE alice +Z")) == [("501", ["alice"])]
    assert brief(await alice.request("MODE alice +iZ")) == [("MODE", ["alice", "+i"]), ("501", ["alice"])]


async def test_user_mode_o_cannot_be_self_granted(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert not find(await alice.request("MODE alice +o"), "MODE")
    assert brief(await alice.request("MODE alice")) == [("221", ["alice", "+"])]


async def test_bot_mode_is_echoed_and_shown_once_by_whois(server: RunningServer) -> None:
    bot = await server.user("botnick")
    assert brief(await bot.request("MODE botnick +B")) == [("MODE", ["botnick", "+B"])]
    user = await server.user("usernick")
    assert [p for c, p in brief(await user.request("WHOIS botnick")) if c == "335"] == [["usernick", "botnick"]]


async def test_bot_messages_carry_a_valueless_bot_tag_for_message_tags_clients(server: RunningServer) -> None:
    bot = await server.user("botnick", caps=["message-tags", "echo-message"])
    await bot.request("MODE botnick +B")
    await bot.request("JOIN #chan")
    tagged = await server.user("tagged", caps=["message-tags"])
    await tagged.request("JOIN #chan")
    plain = await server.user("plain")
    await plain.request("JOIN #chan")
    await bot.sync()
    await bot.send("PRIVMSG tagged :direct")
    assert "bot" in tag_items(await raw_next(tagged, "PRIVMSG"))
    assert "bot" in tag_items(await raw_next(bot, "PRIVMSG"))
    await bot.send("PRIVMSG #chan :to all")
    assert "bot" in tag_items(await raw_next(tagged, "PRIVMSG"))
    assert tag_items(await raw_next(plain, "PRIVMSG")) == []


# -- OPER / KILL / WALLOPS ---------------------------------------------------------------------


async def test_oper_gives_381_and_one_mode_plus_o(oper_server: RunningServer) -> None:
    baz = await oper_server.user("baz")
    reply = await baz.request(f"OPER {OPER_NAME} {OPER_PASSWORD}")
    assert brief(reply) == [("381", ["baz"]), ("MODE", ["baz", "+o"])]
    assert len(reply[0].params) == 2


@pytest.mark.parametrize("line", [f"OPER {OPER_NAME} wrong", f"OPER nobody {OPER_PASSWORD}"])
async def test_oper_with_bad_credentials_is_464(oper_server: RunningServer, line: str) -> None:
    baz = await oper_server.user("baz")
    reply = await baz.request(line)
    assert brief(reply) == [("464", ["baz"])]
    assert len(reply[0].params) == 2


async def test_oper_without_a_password_is_461(oper_server: RunningServer) -> None:
    baz = await oper_server.user("baz")
    assert brief(await baz.request(f"OPER {OPER_NAME}")) == [("461", ["baz", "OPER"])]


async def test_an_admin_account_may_oper_with_its_own_password(make_server: ServerFactory) -> None:
    server = await make_server()
    await server.add_account("boss", "pw-boss", admin=True)
    await server.add_account("worker", "pw-worker")
    guest = await server.user("guest")
    assert brief(await guest.request("OPER boss pw-boss")) == [("381", ["guest"]), ("MODE", ["guest", "+o"])]
    other = await server.user("other")
    assert brief(await other.request("OPER worker pw-worker")) == [("464", ["other"])]


async def test_kill_by_a_non_operator_is_481(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    assert brief(await alice.request("KILL bob :go away")) == [("481", ["alice"])]
    assert brief(await alice.request("KILL alice :me")) == [("481", ["alice"])]
    assert await bob.sync() == []


async def test_kill_disconnects_the_target_with_error_and_peers_see_quit(oper_server: RunningServer) -> None:
    killer = await oper_server.user("killer")
    await become_oper(killer)
    bob = await oper_server.user("bob")
    await bob.request("JOIN #chan")
    carol = await oper_server.user("carol")
    await carol.request("JOIN #chan")
    await killer.send("KILL bob :go away")
    assert "ERROR" in [m.command for m in await bob.closed()]
    got = await carol.expect("QUIT")
    assert nick_of(got.source) == "bob"


async def test_kill_of_a_missing_nick_is_401(oper_server: RunningServer) -> None:
    killer = await oper_server.user("killer")
    await become_oper(killer)
    assert brief(await killer.request("KILL nobody :x")) == [("401", ["killer", "nobody"])]


async def test_wallops_reaches_only_users_with_plus_w(oper_server: RunningServer) -> None:
    sender = await oper_server.user("sender")
    await become_oper(sender)
    watcher = await oper_server.user("watcher")
    await watcher.request("MODE watcher +w")
    deaf = await oper_server.user("deaf")
    reply = await sender.request("WALLOPS :hi everyone")
    for line in reply:
        assert (line.command, nick_of(line.source), line.params) == ("WALLOPS", "sender", ["hi everyone"])
    got = await watcher.expect("WALLOPS")
    assert (nick_of(got.source), got.params) == ("sender", ["hi everyone"])
    assert await deaf.sync() == []


async def test_wallops_by_a_non_operator_is_481(server: RunningServer) -> None:
    alice = await server.user("alice")
    assert brief(await alice.request("WALLOPS :hi")) == [("481", ["alice"])]


# -- RPL_ISUPPORT ------------------------------------------------------------------------------


async def test_isupport_advertises_the_expected_tokens(server: RunningServer) -> None:
    alice = await server.connect()
    tokens = isupport(await alice.register("alice"))
    assert tokens["NICKLEN"] == "32"
    assert tokens["CASEMAPPING"] in ("ascii", "rfc1459", "rfc1459-strict", "rfc7613", "precis")
    assert "#" in (tokens["CHANTYPES"] or "")
    assert re.fullmatch(r"\(([a-z]*o[a-z]*v)\)(\S*@\S*\+)", tokens["PREFIX"] or "")
    assert "@" in (tokens["STATUSMSG"] or "")
    assert "UTF8ONLY" in tokens
    assert tokens["UTF8ONLY"] is None
    assert "WHOX" in tokens
    assert tokens["WHOX"] is None
    assert (tokens["MONITOR"] or "").isdigit()
    assert (tokens["CHATHISTORY"] or "").isdigit()
    assert tokens["MSGREFTYPES"] == "msgid,timestamp"
    assert tokens["BOT"] == "B"


async def test_isupport_targmax_allows_multiple_targets(server: RunningServer) -> None:
    alice = await server.connect()
    targmax = isupport(await alice.register("alice"))["TARGMAX"] or ""
    items = targmax.split(",")
    assert all(re.fullmatch(r"[A-Z]+:[0-9]*", item) for item in items), items
    limits = dict(item.split(":") for item in items)
    assert limits.get("JOIN", "") != "1"
    assert limits["KICK"] != "1"
    assert limits.get("NAMES", "") != "1"
    assert limits["PRIVMSG"] == "" or int(limits["PRIVMSG"]) >= 3


async def test_nicks_collide_as_the_advertised_casemapping_says(server: RunningServer) -> None:
    first = await server.connect()
    mapping = isupport(await first.register("x[y"))["CASEMAPPING"]
    second = await server.connect()
    await second.send("NICK X{Y")
    await second.send("USER x 0 * :x")
    got = await second.expect(where=lambda m: m.command in ("001", "433"))
    assert got.command == ("433" if mapping in ("rfc1459", "rfc1459-strict") else "001")


async def test_each_isupport_line_has_at_most_13_tokens(server: RunningServer) -> None:
    alice = await server.connect()
    lines = find(await alice.register("alice"), "005")
    assert lines
    for line in lines:
        assert line.params[0] == "alice"
        assert 1 <= len(line.params) - 2 <= 13
        assert " " in line.params[-1]
        names = [token.partition("=")[0] for token in line.params[1:-1]]
        assert len(names) == len(set(names))
