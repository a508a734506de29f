"""Parsing what the user types: chat text, slash commands, hints for unknown ones."""

from __future__ import annotations

import pytest

from lanchat.client import commands as cmd


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("hello", cmd.Say("hello")),
        ("  spaced  ", cmd.Say("  spaced  ")),
        ("//not a command", cmd.Say("/not a command")),
        ("/join #dev", cmd.Join("#dev")),
        ("/join dev", cmd.Join("#dev")),
        ("/JOIN #dev secret", cmd.Join("#dev", "secret")),
        ("/j #dev", cmd.Join("#dev")),
        ("/part", cmd.Part(None, "")),
        ("/part going home", cmd.Part(None, "going home")),
        ("/part #dev bye all", cmd.Part("#dev", "bye all")),
        ("/leave #dev", cmd.Part("#dev", "")),
        ("/msg bob hi there", cmd.Msg("bob", "hi there")),
        ("/msg #dev to the channel", cmd.Msg("#dev", "to the channel")),
        ("/me waves", cmd.Me("waves")),
        ("/who", cmd.Who(None)),
        ("/who #dev", cmd.Who("#dev")),
        ("/names", cmd.Who(None)),
        ("/topic", cmd.Topic(None)),
        ("/topic Lunch at noon", cmd.Topic("Lunch at noon")),
        ("/away", cmd.Away(None)),
        ("/away gone fishing", cmd.Away("gone fishing")),
        ("/history", cmd.History(cmd.DEFAULT_HISTORY)),
        ("/history 5", cmd.History(5)),
        ("/switch", cmd.Switch(None)),
        ("/switch 2", cmd.Switch("2")),
        ("/query bob", cmd.Switch("bob")),
        ("/quit", cmd.Quit("")),
        ("/quit bye now", cmd.Quit("bye now")),
        ("/exit", cmd.Quit("")),
        ("/help", cmd.Help(None)),
        ("/help /msg", cmd.Help("msg")),
    ],
)
def test_parse(line: str, parsed: cmd.Input) -> None:
    assert cmd.parse_input(line) == parsed


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_blank_lines_are_nothing(line: str) -> None:
    assert cmd.parse_input(line) is None


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/join", "join"),
        ("/msg bob", "msg"),
        ("/msg", "msg"),
        ("/me", "me"),
        ("/history x", "history"),
        ("/history ²", "history"),
    ],
)
def test_misused_commands_say_how_to_use_them(line: str, command: str) -> None:
    parsed = cmd.parse_input(line)
    assert isinstance(parsed, cmd.Usage)
    assert parsed.command == command


def test_unknown_commands_get_a_hint() -> None:
    typo = cmd.parse_input("/jion #dev")
    assert typo == cmd.Unknown("jion", "join")
    assert cmd.unknown_hint(typo) == "Unknown command /jion. Did you mean /join? Type /help for the list of commands."
    nothing_close = cmd.parse_input("/xyzzy")
    assert nothing_close == cmd.Unknown("xyzzy", None)
    assert cmd.unknown_hint(nothing_close) == "Unknown command /xyzzy. Type /help for the list of commands."


def test_help_lists_every_command_and_the_keys() -> None:
    text = "\n".join(cmd.help_lines())
    for entry in cmd.COMMANDS.values():
        assert entry.usage in text
    assert "Ctrl-N / Ctrl-P" in text
    assert cmd.help_lines("msg") == ["/msg NICK text  —  send a direct message (or /msg #channel text)"]
    assert cmd.help_lines("exit")[0].startswith("/quit")
    assert cmd.help_lines("nope") == ["No command /nope. Type /help for the list."]


def test_other_channel_prefixes() -> None:
    assert cmd.parse_input("/join dev", "&#") == cmd.Join("&dev")
    assert cmd.parse_input("/part &dev bye", "&#") == cmd.Part("&dev", "bye")
