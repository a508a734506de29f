"""The pin file (trust on first use), fingerprint format, and ``HOST[:PORT]`` parsing."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from lanchat.client.connection import Endpoint, parse_address
from lanchat.client.trust import CertificateChanged, KnownServers, Trust, default_path, fingerprint

FP_A = ":".join(["AA"] * 32)
FP_B = ":".join(["BB"] * 32)


def test_fingerprints_are_uppercase_hex_pairs_joined_by_colons() -> None:
    der = b"not really a certificate"
    digest = hashlib.sha256(der).hexdigest().upper()
    assert fingerprint(der) == ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    assert len(fingerprint(der)) == 95


def test_first_use_is_pinned_once_accepted_then_the_same_is_known(tmp_path: Path) -> None:
    known = KnownServers(tmp_path / "lanchat" / "known_servers")
    assert known.lookup("chat.lan:10001") is None
    first = known.check("CHAT.lan:10001", FP_A.lower())
    assert (first.trust, first.fingerprint, first.previous, first.server) == (
        Trust.FIRST_USE,
        FP_A,
        None,
        "chat.lan:10001",
    )
    assert not known.path.exists()  # checking writes nothing
    known.accept(first)
    assert known.lookup("CHAT.lan:10001") == FP_A
    again = KnownServers(known.path).check("chat.lan:10001", FP_A)
    assert again.trust is Trust.KNOWN
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.path.parent.stat().st_mode) == 0o700
    assert known.path.read_text().splitlines()[-1] == f"chat.lan:10001 {FP_A}"


def test_a_changed_certificate_is_refused_with_both_fingerprints(tmp_path: Path) -> None:
    known = KnownServers(tmp_path / "known_servers")
    known.pin("10.0.0.5:10001", FP_A)
    with pytest.raises(CertificateChanged) as caught:
        known.check("10.0.0.5:10001", FP_B)
    text = "\n".join(caught.value.explain())
    assert FP_A in text
    assert FP_B in text
    assert "--accept-new-certificate" in text
    assert f"delete the line starting with 10.0.0.5:10001 from {known.path}" in text
    assert known.lookup("10.0.0.5:10001") == FP_A


def test_accepting_a_new_certificate_replaces_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "known_servers"
    path.write_text(f"# my notes\nother:10001 {FP_B}\n10.0.0.5:10001 {FP_A}\n", encoding="utf-8")
    known = KnownServers(path)
    verdict = known.check("10.0.0.5:10001", FP_B, accept_new=True)
    assert (verdict.trust, verdict.previous) == (Trust.REPLACED, FP_A)
    assert known.lookup("10.0.0.5:10001") == FP_A  # until accepted
    known.accept(verdict)
    assert path.read_text().splitlines() == ["# my notes", f"other:10001 {FP_B}", f"10.0.0.5:10001 {FP_B}"]


def test_deleting_the_line_makes_it_a_first_use_again(tmp_path: Path) -> None:
    known = KnownServers(tmp_path / "known_servers")
    known.pin("a:1", FP_A)
    kept = [line for line in known.path.read_text().splitlines() if not line.startswith("a:1 ")]
    known.path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    assert known.check("a:1", FP_B).trust is Trust.FIRST_USE


@pytest.mark.parametrize(("pinned", "other"), [("office.local:10001", "office.local:20001"), ("[::1]:1", "[::1]:2")])
def test_a_pin_of_the_same_host_on_another_port_is_not_a_first_use(tmp_path: Path, pinned: str, other: str) -> None:
    known = KnownServers(tmp_path / "known_servers")
    known.pin(pinned, FP_A)
    with pytest.raises(CertificateChanged) as caught:
        known.check(other, FP_B)
    assert caught.value.pinned_for == pinned
    text = "\n".join(caught.value.explain())
    assert f"not the one trusted for {pinned}" in text
    assert FP_A in text
    assert FP_B in text
    assert "--accept-new-certificate" in text
    assert known.check(other, FP_A).trust is Trust.FIRST_USE  # the same certificate on another port
    assert known.check("elsewhere.local:20001", FP_B).trust is Trust.FIRST_USE
    verdict = known.check(other, FP_B, accept_new=True)
    assert (verdict.trust, verdict.previous) == (Trust.REPLACED, FP_A)
    known.accept(verdict)
    assert known.check(other, FP_B).trust is Trust.KNOWN
    assert known.check(pinned, FP_A).trust is Trust.KNOWN


def test_the_file_lives_in_the_user_config_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_path() == tmp_path / "cfg" / "lanchat" / "known_servers"
    assert KnownServers().path == default_path()


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tls", "host", "port"),
    [
        ("chat.lan", True, "chat.lan", 10001),
        ("chat.lan", False, "chat.lan", 10000),
        ("192.168.1.10:6697", True, "192.168.1.10", 6697),
        ("[::1]:7000", True, "::1", 7000),
        ("[fe80::1]", False, "fe80::1", 10000),
        ("::1", True, "::1", 10001),
    ],
)
def test_addresses(text: str, tls: bool, host: str, port: int) -> None:
    assert parse_address(text, tls=tls) == Endpoint(host, port, tls)


@pytest.mark.parametrize("text", ["", ":10001", "host:0", "host:65536", "host:abc", "[::1", "[::1]x", "a b", "zz::q"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        parse_address(text, tls=True)


def test_pin_keys_use_the_server_name_and_brackets() -> None:
    assert Endpoint("10.0.0.5", 10001, True, "Office.local").pin_key == "office.local:10001"
    assert Endpoint("::1", 10001, True).pin_key == "[::1]:10001"
    assert Endpoint("::1", 10001, True).address == "[::1]:10001"
