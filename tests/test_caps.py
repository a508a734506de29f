"""Capability negotiation (CAP LS/REQ/LIST/END) and the small caps that change what others
see: extended-join, away-notify, account-notify, invite-notify, userhost-in-names,
multi-prefix and setname. Expectations follow /work/notes/specs.md §1 and §4 and irctest.
"""

from __future__ import annotations

import base64

from lanchat.proto.message import Message
from tests.conftest import RunningServer
from tests.ircclient import canon, commands, find, join_all, lines, mask

SERVER = "lanchat.local"
EXPECTED_CAPS = {
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "setname",
    "userhost-in-names",
    "draft/chathistory",
    "draft/multiline",
    "draft/message-redaction",
    "draft/read-marker",
}


def cap_tokens(replies: list[Message]) -> list[str]:
    """Every capability token in a list of CAP LS/LIST lines."""
    return [token for m in replies for token in m.params[-1].split()]


# -- CAP LS ------------------------------------------------------------------------------------


async def test_cap_ls_302_lists_every_cap_with_values_on_continued_lines(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP LS 302")

    assert reply
    assert all(m.command == "CAP" and m.source == SERVER for m in reply)
    assert all(m.params[:3] == ["*", "LS", "*"] and len(m.params) == 4 for m in reply[:-1])
    assert reply[-1].params[:2] == ["*", "LS"]
    assert len(reply[-1].params) == 3
    tokens = cap_tokens(reply)
    offered = {token.partition("=")[0]: token.partition("=")[2] for token in tokens}
    assert set(offered) >= EXPECTED_CAPS
    assert "PLAIN" in offered["sasl"].split(",")
    assert "max-bytes=" in offered["draft/multiline"]


async def test_cap_ls_without_version_is_one_line_without_values(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP LS")

    assert len(reply) == 1
    assert reply[0].command == "CAP"
    assert reply[0].params[:2] == ["*", "LS"]
    assert len(reply[0].params) == 3
    tokens = cap_tokens(reply)
    assert set(tokens) >= EXPECTED_CAPS
    assert not [t for t in tokens if "=" in t]


async def test_cap_ls_301_is_one_line_without_values(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP LS 301")

    assert [(m.command, m.params[:2], len(m.params)) for m in reply] == [("CAP", ["*", "LS"], 3)]
    assert not [t for t in cap_tokens(reply) if "=" in t]


async def test_cap_ls_after_registration_without_version_is_one_line(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("CAP LS")

    assert [(m.command, m.params[:2], len(m.params)) for m in reply] == [("CAP", ["alice", "LS"], 3)]
    assert not [t for t in cap_tokens(reply) if "=" in t]


async def test_second_cap_ls_during_negotiation_is_answered_again(server: RunningServer) -> None:
    client = await server.connect()
    first = await client.request("CAP LS 302")

    again = await client.request("CAP LS 302")

    assert cap_tokens(again) == cap_tokens(first)


async def test_cap_ls_302_client_asking_again_without_version_gets_one_line(server: RunningServer) -> None:
    client = await server.connect()
    await client.request("CAP LS 302")

    reply = await client.request("CAP LS")

    assert [(m.command, m.params[:2], len(m.params)) for m in reply] == [("CAP", ["*", "LS"], 3)]
    assert not [t for t in cap_tokens(reply) if "=" in t]


# -- CAP REQ / LIST ----------------------------------------------------------------------------


async def test_cap_req_ack_repeats_the_requested_string(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP REQ :multi-prefix userhost-in-names")

    assert lines(reply) == [canon(f":{SERVER} CAP * ACK :multi-prefix userhost-in-names")]


async def test_cap_req_nak_repeats_the_exact_requested_string(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP REQ :foo qux bar baz qux quux")

    assert [(m.source, m.command, m.params) for m in reply] == [
        (SERVER, "CAP", ["*", "NAK", "foo qux bar baz qux quux"])
    ]


async def test_cap_req_with_one_unknown_cap_enables_nothing(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP REQ :multi-prefix foo")
    assert [m.params for m in reply] == [["*", "NAK", "multi-prefix foo"]]

    reply = await client.request("CAP LIST")
    assert [m.params for m in reply] == [["*", "LIST", ""]]


async def test_cap_req_cap_notify_is_acked(server: RunningServer) -> None:
    client = await server.connect()
    await client.request("CAP LS 302")

    reply = await client.request("CAP REQ :cap-notify")

    assert [m.params for m in reply] == [["*", "ACK", "cap-notify"]]


async def test_cap_req_of_an_enabled_cap_or_disabling_an_absent_one_succeeds(server: RunningServer) -> None:
    client = await server.connect()
    await client.request("CAP REQ :server-time")

    assert [m.params for m in await client.request("CAP REQ :server-time")] == [["*", "ACK", "server-time"]]
    assert [m.params for m in await client.request("CAP REQ :-multi-prefix")] == [["*", "ACK", "-multi-prefix"]]


async def test_cap_list_before_anything_is_empty(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP LIST")

    assert [(m.source, m.command, m.params) for m in reply] == [(SERVER, "CAP", ["*", "LIST", ""])]


async def test_cap_list_shows_the_enabled_caps(server: RunningServer) -> None:
    client = await server.connect()
    await client.request("CAP REQ :multi-prefix userhost-in-names")

    reply = await client.request("CAP LIST")

    assert len(reply) == 1
    assert reply[0].params[:2] == ["*", "LIST"]
    assert set(reply[0].params[2].split()) - {"cap-notify"} == {"multi-prefix", "userhost-in-names"}


async def test_cap_req_minus_disables_a_cap_at_once(server: RunningServer) -> None:
    bar = await server.user("bar", caps=["echo-message", "server-time"])
    sender = await server.user("sender")
    await sender.request("PRIVMSG bar :hi")
    assert "time" in (await bar.expect("PRIVMSG")).tags

    reply = await bar.request("CAP REQ :-server-time")

    assert [(m.command, m.params) for m in reply] == [("CAP", ["bar", "ACK", "-server-time"])]
    listed = await bar.request("CAP LIST")
    assert set(cap_tokens(listed)) - {"cap-notify"} == {"echo-message"}
    assert "time" not in listed[0].tags
    await sender.request("PRIVMSG bar :again")
    assert (await bar.expect("PRIVMSG")).tags == {}


async def test_cap_req_after_registration_takes_effect(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    reply = await alice.request("CAP REQ :userhost-in-names")

    assert [(m.command, m.params) for m in reply] == [("CAP", ["alice", "ACK", "userhost-in-names"])]
    names = find(await alice.request("NAMES #chan"), "353")
    assert set(names[0].params[-1].split()) == {"@" + mask("alice"), mask("bob")}


# -- registration hold -------------------------------------------------------------------------


async def test_cap_ls_holds_registration_until_cap_end(server: RunningServer) -> None:
    client = await server.connect()
    await client.send("CAP LS 302")
    await client.send("NICK foo")
    await client.send("USER foo 0 * :Foo")

    held = await client.sync()
    assert "001" not in commands(held)
    assert commands(held) == ["CAP"] * len(held)

    await client.send("CAP END")
    assert (await client.expect("001")).params[0] == "foo"


async def test_cap_req_holds_registration_until_cap_end(server: RunningServer) -> None:
    client = await server.connect()
    await client.send("CAP REQ :server-time")
    await client.send("NICK foo")
    await client.send("USER foo 0 * :Foo")

    held = await client.sync()
    assert lines(held) == [canon(f":{SERVER} CAP * ACK server-time")]

    await client.send("CAP END")
    assert (await client.expect("001")).params[0] == "foo"


async def test_cap_end_after_registration_is_ignored(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["server-time"])

    assert await alice.request("CAP END") == []


async def test_unknown_cap_subcommand_as_first_message_gets_410(server: RunningServer) -> None:
    client = await server.connect()

    reply = await client.request("CAP NOTACOMMAND")

    assert [(m.source, m.command, m.params[:2]) for m in reply] == [(SERVER, "410", ["*", "NOTACOMMAND"])]


async def test_unknown_cap_subcommand_after_registration_gets_410(server: RunningServer) -> None:
    alice = await server.user("alice")

    reply = await alice.request("CAP FOO")

    assert [(m.command, m.params[:2]) for m in reply] == [("410", ["alice", "FOO"])]


# -- extended-join -----------------------------------------------------------------------------


async def test_extended_join_shows_account_and_realname(server: RunningServer) -> None:
    await server.add_account("jilles", "pw-jilles")
    watcher = await server.user("watcher", caps=["extended-join"])
    plain_watcher = await server.user("plainwatcher")
    await join_all("#chan", watcher, plain_watcher)
    jilles = await server.user("jilles", account="jilles", password="pw-jilles", realname="Jilles Real")
    guest = await server.user("guest", realname="Guest Real")

    await jilles.request("JOIN #chan")
    await guest.request("JOIN #chan")

    assert lines(find(await watcher.sync(), "JOIN")) == [
        canon(f":{mask('jilles')} JOIN #chan jilles :Jilles Real"),
        canon(f":{mask('guest')} JOIN #chan * :Guest Real"),
    ]
    assert lines(find(await plain_watcher.sync(), "JOIN")) == [
        canon(f":{mask('jilles')} JOIN #chan"),
        canon(f":{mask('guest')} JOIN #chan"),
    ]


async def test_extended_join_echo_to_the_joiner_is_extended(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["extended-join"], realname="Alice Real")

    reply = await alice.request("JOIN #chan")

    assert lines(find(reply, "JOIN")) == [canon(f":{mask('alice')} JOIN #chan * :Alice Real")]


async def test_second_connection_of_an_account_sees_its_channels_in_extended_join_form(
    server: RunningServer,
) -> None:
    await server.add_account("jilles", "pw-jilles")
    first = await server.user("jilles", account="jilles", password="pw-jilles", realname="Jilles Real")
    await first.request("JOIN #chan")

    second = await server.connect()
    burst = await second.register(
        "jilles", caps=["extended-join"], account="jilles", password="pw-jilles", realname="Jilles Real"
    )

    assert lines(find(burst, "JOIN")) == [canon(f":{mask('jilles')} JOIN #chan jilles :Jilles Real")]


# -- away-notify -------------------------------------------------------------------------------


async def test_away_notify_tells_channel_peers_with_the_cap(server: RunningServer) -> None:
    bar = await server.user("bar")
    peer = await server.user("peer", caps=["away-notify"])
    other = await server.user("other")
    await join_all("#chan", bar, peer, other)

    assert commands(await bar.request("AWAY :i'm going away")) == ["306"]
    assert lines(await peer.sync()) == [canon(f":{mask('bar')} AWAY :i'm going away")]
    assert commands(await bar.request("AWAY")) == ["305"]
    got = await peer.sync()
    assert lines(got) == [canon(f":{mask('bar')} AWAY")]
    assert got[0].params == []
    assert await other.sync() == []


async def test_away_user_gets_no_away_line_about_itself(server: RunningServer) -> None:
    bar = await server.user("bar", caps=["away-notify"])
    peer = await server.user("peer")
    await join_all("#chan", bar, peer)

    assert commands(await bar.request("AWAY :brb")) == ["306"]
    assert commands(await bar.request("AWAY")) == ["305"]


async def test_away_notify_sends_away_after_join_of_an_away_user(server: RunningServer) -> None:
    peer = await server.user("peer", caps=["away-notify"])
    await join_all("#chan", peer)
    bar = await server.user("bar", caps=["away-notify"])
    await bar.request("AWAY :i'm already away")

    reply = await bar.request("JOIN #chan")

    assert "AWAY" not in commands(reply)
    assert lines(await peer.sync()) == [
        canon(f":{mask('bar')} JOIN #chan"),
        canon(f":{mask('bar')} AWAY :i'm already away"),
    ]


# -- account-notify ----------------------------------------------------------------------------


async def test_account_notify_announces_a_login_after_registration(server: RunningServer) -> None:
    await server.add_account("jilles", "pw-jilles")
    bar = await server.user("bar", caps=["sasl", "account-notify"])
    peer = await server.user("peer", caps=["account-notify"])
    other = await server.user("other")
    await join_all("#chan", bar, peer, other)

    assert [(m.command, m.params) for m in await bar.request("AUTHENTICATE PLAIN")] == [("AUTHENTICATE", ["+"])]
    payload = base64.b64encode(b"\0jilles\0pw-jilles").decode()
    reply = await bar.request(f"AUTHENTICATE {payload}")

    assert [m.command for m in reply if m.command in ("900", "903")] == ["900", "903"]
    assert lines(find(reply, "ACCOUNT")) == [canon(f":{mask('bar')} ACCOUNT jilles")]
    assert lines(await peer.sync()) == [canon(f":{mask('bar')} ACCOUNT jilles")]
    assert await other.sync() == []


# -- invite-notify -----------------------------------------------------------------------------


async def test_invite_notify_tells_ops_with_the_cap_only(server: RunningServer) -> None:
    chanop = await server.user("chanop")
    notified = await server.user("notified", caps=["invite-notify"])
    uncapped = await server.user("uncapped")
    member = await server.user("member")
    await join_all("#chan", chanop, notified, uncapped, member)
    await chanop.request("MODE #chan +o notified")
    await chanop.request("MODE #chan +o uncapped")
    for client in (notified, uncapped, member):
        await client.sync()
    invitee = await server.user("invitee")

    reply = await chanop.request("INVITE invitee #chan")

    assert [(m.command, m.params) for m in reply] == [("341", ["chanop", "invitee", "#chan"])]
    assert lines(await invitee.sync()) == [canon(f":{mask('chanop')} INVITE invitee #chan")]
    assert lines(await notified.sync()) == [canon(f":{mask('chanop')} INVITE invitee #chan")]
    assert await uncapped.sync() == []
    assert await member.sync() == []


# -- userhost-in-names / multi-prefix ----------------------------------------------------------


async def test_userhost_in_names_gives_full_masks(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["userhost-in-names"])
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    reply = await alice.request("NAMES #chan")

    assert commands(reply) == ["353", "366"]
    assert reply[0].params[:3] == ["alice", "=", "#chan"]
    assert set(reply[0].params[3].split()) == {"@" + mask("alice"), mask("bob")}
    assert reply[1].params[:2] == ["alice", "#chan"]


async def test_names_without_userhost_in_names_gives_nicks(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    reply = await alice.request("NAMES #chan")

    assert set(reply[0].params[3].split()) == {"@alice", "bob"}


async def test_multi_prefix_shows_every_prefix_in_names(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["multi-prefix"])
    bar = await server.user("bar")
    await join_all("#chan", foo, bar)
    await foo.request("MODE #chan +v foo")
    await bar.sync()

    with_cap = find(await foo.request("NAMES #chan"), "353")
    without_cap = find(await bar.request("NAMES #chan"), "353")

    assert "@+foo" in with_cap[0].params[-1].split()
    assert "@foo" in without_cap[0].params[-1].split()


async def test_multi_prefix_shows_every_prefix_in_who_flags(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["multi-prefix"])
    bar = await server.user("bar")
    await join_all("#chan", foo, bar)
    await foo.request("MODE #chan +v foo")
    await bar.sync()

    with_cap = [m for m in find(await foo.request("WHO #chan"), "352") if m.params[5] == "foo"]
    without_cap = [m for m in find(await bar.request("WHO #chan"), "352") if m.params[5] == "foo"]

    assert with_cap[0].params[6] == "H@+"
    assert without_cap[0].params[6] == "H@"


# -- setname -----------------------------------------------------------------------------------


async def test_setname_reaches_the_sender_and_peers_with_the_cap(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["setname"])
    peer = await server.user("peer", caps=["setname"])
    other = await server.user("other")
    await join_all("#chan", foo, peer, other)

    reply = await foo.request("SETNAME :New Real Name")

    assert lines(reply) == [canon(f":{mask('foo')} SETNAME :New Real Name")]
    assert lines(await peer.sync()) == [canon(f":{mask('foo')} SETNAME :New Real Name")]
    assert await other.sync() == []


async def test_setname_without_the_cap_is_silent_but_still_applies(server: RunningServer) -> None:
    foo = await server.user("foo")
    peer = await server.user("peer", caps=["setname"])
    await join_all("#chan", foo, peer)

    assert await foo.request("SETNAME bar") == []

    got = await peer.sync()
    assert [(m.source, m.command, m.params) for m in got] == [(mask("foo"), "SETNAME", ["bar"])]
    whois = find(await peer.request("WHOIS foo"), "311")
    assert whois[0].params[-1] == "bar"


async def test_setname_with_an_empty_realname_fails(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["setname"])

    reply = await foo.request("SETNAME :")

    assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["SETNAME", "INVALID_REALNAME"])]


async def test_setname_longer_than_namelen_fails(server: RunningServer) -> None:
    foo = await server.user("foo", caps=["setname"])
    isupport = [t for m in foo.log if m.command == "005" for t in m.params[1:-1]]
    namelen = int(next(t for t in isupport if t.startswith("NAMELEN=")).partition("=")[2])

    reply = await foo.request("SETNAME :" + "x" * (namelen + 1))

    assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["SETNAME", "INVALID_REALNAME"])]


async def test_capabilities_changed_after_joining_apply_to_the_next_channel_message(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)
    await alice.request("PRIVMSG #chan :before")
    assert [m.tags for m in await bob.sync()] == [{}]

    await bob.request("CAP REQ :server-time message-tags")
    await alice.request("PRIVMSG #chan :after")
    got = await bob.sync()
    assert lines(got) == [canon(f":{mask('alice')} PRIVMSG #chan :after")]
    assert set(got[0].tags) == {"time", "msgid"}

    await bob.request("CAP REQ :-server-time -message-tags")
    await alice.request("PRIVMSG #chan :plain again")
    assert [m.tags for m in await bob.sync()] == [{}]
