"""The sans-I/O protocol layer: the public ircdocs parser-tests vectors, limits, framing, and
hypothesis properties (round trip; any bytes in, only protocol errors out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lanchat.proto.errors import InputTooLong, InvalidUtf8, MalformedMessage, ProtocolError
from lanchat.proto.framing import MAX_LINE_BYTES, OVERLONG, LineReader
from lanchat.proto.message import (
    MAX_CLIENT_TAG_DATA,
    Message,
    escape_tag_value,
    parse,
    parse_bytes,
    unescape_tag_value,
)
from lanchat.proto.names import casefold, mask_matches, parse_decimal, split_mask, valid_hostname

VECTORS = Path(__file__).parent / "data" / "parser-tests"


def _load(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((VECTORS / name).read_text(encoding="utf-8"))
    tests: list[dict[str, Any]] = data["tests"]
    return tests


def _message_from_atoms(atoms: dict[str, Any]) -> Message:
    return Message(
        command=atoms["verb"],
        params=list(atoms.get("params") or []),
        source=atoms.get("source"),
        tags={k: ("" if v is None else v) for k, v in (atoms.get("tags") or {}).items()},
    )


# -- ircdocs/parser-tests --------------------------------------------------------------------


@pytest.mark.parametrize("case", _load("msg-split.yaml"), ids=lambda c: c["input"][:40])
def test_msg_split_vectors(case: dict[str, Any]) -> None:
    msg = parse(case["input"])
    atoms = case["atoms"]
    assert msg.command == atoms["verb"]
    assert msg.params == (atoms.get("params") or [])
    assert msg.source == atoms.get("source")
    assert msg.tags == {k: ("" if v is None else v) for k, v in (atoms.get("tags") or {}).items()}


@pytest.mark.parametrize("case", _load("msg-join.yaml"), ids=lambda c: c.get("desc", "")[:40])
def test_msg_join_vectors(case: dict[str, Any]) -> None:
    line = _message_from_atoms(case["atoms"]).to_line()
    matches = case["matches"]
    if line in matches:
        return
    # Tag order is free: compare tag sets when the rest is identical.
    parsed = parse(line)
    assert any(
        parse(candidate) == parsed and candidate.split(" ", 1)[1:] == line.split(" ", 1)[1:] for candidate in matches
    ), f"{line!r} not in {matches!r}"


@pytest.mark.parametrize("case", _load("userhost-split.yaml"), ids=lambda c: c["source"])
def test_userhost_split_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    assert split_mask(case["source"]) == (atoms.get("nick", ""), atoms.get("user", ""), atoms.get("host", ""))


@pytest.mark.parametrize("case", _load("mask-match.yaml"), ids=lambda c: c["mask"])
def test_mask_match_vectors(case: dict[str, Any]) -> None:
    for target in case.get("matches", []):
        assert mask_matches(case["mask"], target), target
    for target in case.get("fails", []):
        assert not mask_matches(case["mask"], target), target


# mask, target, mapping, matches
MASK_TABLE: list[tuple[str, str, str, bool]] = [
    ("*", "", "rfc1459", True),
    ("*", "anything at all", "rfc1459", True),
    ("", "", "rfc1459", True),
    ("", "x", "rfc1459", False),
    ("?", "", "rfc1459", False),
    ("?", "x", "rfc1459", True),
    ("a*b", "ab", "rfc1459", True),
    ("a*b", "axxb", "rfc1459", True),
    ("a*b", "axxbc", "rfc1459", False),
    ("a**b", "a-b", "rfc1459", True),
    ("*a*a*x", "aaax", "rfc1459", True),
    ("*a*a*x", "ax", "rfc1459", False),
    ("a?c*", "abcdef", "rfc1459", True),
    ("a?c*", "acdef", "rfc1459", False),
    ("*.example.com", "host.example.com", "rfc1459", True),
    ("*.example.com", "example.com", "rfc1459", False),
    ("nick!*@*", "NICK!user@host", "rfc1459", True),
    ("[foo]*", "{FOO}bar", "rfc1459", True),  # rfc1459 folds [ ] to { }
    ("[foo]*", "{FOO}bar", "ascii", False),
    ("foo\\bar", "foo|bar", "rfc1459", True),  # \ folds to |: no escapes under rfc1459
    ("foo\\bar", "FOO\\BAR", "rfc1459", True),
    ("*multi\nline*", "a multi\nline b", "rfc1459", True),
    ("a\\*b", "a*b", "ascii", True),  # escapes under ascii
    ("a\\*b", "axb", "ascii", False),
    ("a\\?b", "a?b", "ascii", True),
    ("a\\?b", "axb", "ascii", False),
    ("a\\\\b", "a\\b", "ascii", True),
    ("trailing\\", "trailing\\", "ascii", True),
]


@pytest.mark.parametrize(("mask", "target", "mapping", "expected"), MASK_TABLE)
def test_mask_matching_table(mask: str, target: str, mapping: str, expected: bool) -> None:
    assert mask_matches(mask, target, mapping) is expected


def test_pathological_masks_match_in_linear_time() -> None:
    # Every * of this mask used to be a backtracking .* (61 s for a 60-character subject);
    # a child process bounds the run, as the regex engine cannot be interrupted from a thread.
    code = (
        "from lanchat.proto.names import mask_matches\n"
        "mask = '*a*a*a*a*a*a*a*a*x'\n"
        "for subject in ('a' * 400, 'a' * 400 + 'x'):\n"
        "    expected = subject.endswith('x')\n"
        "    assert mask_matches(mask, subject) is expected\n"
        "assert not mask_matches('*' + 'a*' * 200 + 'x', 'a' * 500)\n"
        "assert not mask_matches('*' + '?*' * 200 + 'x', 'a' * 500)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=5)


@pytest.mark.parametrize("case", _load("validate-hostname.yaml"), ids=lambda c: c["host"] or "<empty>")
def test_validate_hostname_vectors(case: dict[str, Any]) -> None:
    assert valid_hostname(case["host"]) is case["valid"]


# -- limits and errors -----------------------------------------------------------------------


def test_body_of_510_bytes_is_accepted_and_511_is_too_long() -> None:
    assert parse_bytes(b"PING " + b"x" * 505).params == ["x" * 505]
    with pytest.raises(InputTooLong) as caught:
        parse_bytes(b"PING " + b"x" * 506)
    assert caught.value.command == "PING"


def test_client_tag_data_limit_is_4094_bytes() -> None:
    def line(n: int) -> bytes:
        return b"@foo=bar;+baz=" + b"a" * n + b" TAGMSG #test"

    accepted = parse_bytes(line(4081))
    assert accepted.tags["+baz"] == "a" * 4081
    assert len(b"foo=bar;+baz=" + b"a" * 4081) == MAX_CLIENT_TAG_DATA
    with pytest.raises(InputTooLong):
        parse_bytes(line(4082))


def test_invalid_utf8_is_reported_with_the_command() -> None:
    with pytest.raises(InvalidUtf8) as caught:
        parse_bytes(b"PRIVMSG #chan :caf\xe9")
    assert caught.value.command == "PRIVMSG"


@pytest.mark.parametrize("raw", [b"@tag", b":source", b"", b"   ", b"@a=b :src", b"PRIVMSG #a :x\x00y", b"@=x CMD"])
def test_malformed_lines_raise_protocol_errors(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_bytes(raw)


def test_tag_escaping_round_trip() -> None:
    value = "a;b c\\d\re\nf"
    assert escape_tag_value(value) == "a\\:b\\sc\\\\d\\re\\nf"
    assert unescape_tag_value(escape_tag_value(value)) == value
    assert unescape_tag_value("ab\\") == "ab"
    assert unescape_tag_value("a\\bc") == "abc"


def test_serializer_refuses_line_breaks_and_bad_middle_params() -> None:
    with pytest.raises(ValueError, match="line break"):
        Message("PRIVMSG", ["#a", "x\r\nQUIT"]).to_line()
    with pytest.raises(ValueError, match="middle"):
        Message("MODE", ["#a b", "+o"]).to_line()


def test_rfc1459_casemapping() -> None:
    assert casefold("Nick[]\\~") == "nick{}|^"
    assert casefold("Nick[]", "ascii") == "nick[]"


# -- framing ---------------------------------------------------------------------------------


def test_reader_joins_pieces_and_splits_merged_lines() -> None:
    reader = LineReader()
    assert reader.feed(b"PRIVMSG #a :hel") == []
    assert reader.feed(b"lo\r\nPRIVMSG #a :second\nPING x\r") == [b"PRIVMSG #a :hello", b"PRIVMSG #a :second"]
    assert reader.feed(b"\n\r\n\n") == [b"PING x"]


def test_reader_reassembles_byte_by_byte_including_utf8() -> None:
    reader = LineReader()
    data = "PRIVMSG bob :héllo wörld 😀\r\n".encode()
    out: list[object] = []
    for i in range(len(data)):
        out += reader.feed(data[i : i + 1])
    assert out == [data[:-2]]


def test_reader_drops_an_overlong_line_once_and_keeps_going() -> None:
    reader = LineReader()
    out = reader.feed(b"x" * (MAX_LINE_BYTES + 10))
    assert out == [OVERLONG]
    assert reader.pending == 0
    assert reader.feed(b"y" * 5000) == []
    assert reader.feed(b"zz\r\nPING ok\r\n") == [b"PING ok"]


def test_reader_reports_overlong_complete_line() -> None:
    reader = LineReader()
    assert reader.feed(b"a" * (MAX_LINE_BYTES + 1) + b"\r\nPING b\r\n") == [OVERLONG, b"PING b"]


# -- properties ------------------------------------------------------------------------------

_tag_keys = st.from_regex(r"\+?[a-z][a-z0-9-]{0,10}(/[a-z]{1,5})?", fullmatch=True)
_tag_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)
_words = st.from_regex(r"[^\s:\x00][^\s\x00]{0,15}", fullmatch=True)
_trailing = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0\r\n"), max_size=40)


@given(
    tags=st.dictionaries(_tag_keys, _tag_values, max_size=4),
    source=st.one_of(st.none(), st.from_regex(r"[a-z]{1,8}![a-z]{1,8}@[a-z.]{1,10}", fullmatch=True)),
    command=st.from_regex(r"[A-Z]{1,10}|[0-9]{3}", fullmatch=True),
    middles=st.lists(_words, max_size=5),
    last=st.one_of(st.none(), _trailing),
)
def test_serialize_then_parse_round_trips(
    tags: dict[str, str], source: str | None, command: str, middles: list[str], last: str | None
) -> None:
    params = middles + ([last] if last is not None else [])
    msg = Message(command, params, source, tags)
    assert parse(msg.to_line()) == msg


@given(st.binary(max_size=600))
def test_any_bytes_give_a_message_or_a_protocol_error(data: bytes) -> None:
    reader = LineReader()
    for line in reader.feed(data + b"\r\n"):
        if line is OVERLONG:
            continue
        assert isinstance(line, bytes)
        try:
            msg = parse_bytes(line)
        except ProtocolError:
            continue
        assert isinstance(msg.command, str)
        assert msg.command
        assert " " not in msg.command


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=20))
def test_framing_is_independent_of_how_bytes_are_split(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    whole = LineReader().feed(data)
    reader = LineReader()
    pieces: list[object] = []
    for chunk in chunks:
        pieces += reader.feed(chunk)
    assert pieces == whole


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("42", 42),
        ("999999999", 999_999_999),
        ("", None),
        ("1234567890", None),
        ("²", None),
        ("-1", None),
        ("+1", None),
        ("1 ", None),
        ("٣", None),
    ],
)
def test_parse_decimal_takes_only_short_ascii_numbers(text: str, number: int | None) -> None:
    assert parse_decimal(text) == number
