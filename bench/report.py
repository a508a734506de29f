"""The table: one row per (scenario, metric), median [min–max] per server, ratios lanchat / peer,
and whether the issue's target is met."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import Cell

SERVERS = ("lanchat", "ngircd", "inspircd", "pyrelay", "ircsink")
LABELS = {
    "lanchat": "lanchat",
    "ngircd": "ngIRCd",
    "inspircd": "InspIRCd",
    "pyrelay": "Python relay (reference)",
    "ircsink": "ircsink (ceiling)",
}
#: The servers with a ratio column lanchat / server (the targets name the two peers; the
#: Python relay shows how much of a peer's rate Python on one core reaches at all).
RATIO_TO = ("ngircd", "inspircd", "pyrelay")


@dataclass(frozen=True, slots=True)
class Metric:
    """A table row."""

    scenario: str
    metric: str
    label: str
    unit: str
    higher_better: bool = True
    digits: int = 0
    #: Minimum ratio lanchat / peer, per peer.
    min_ratio: tuple[tuple[str, float], ...] = ()
    #: Bounds on lanchat's own median (at_least -1: all of the {n} attempted).
    at_least: float | None = None
    at_most: float | None = None


METRICS: tuple[Metric, ...] = (
    Metric(
        "fanout",
        "msg_per_s",
        "fanout: 500 clients / 1 channel, 5 senders",
        "msg/s",
        min_ratio=(("ngircd", 2.0), ("inspircd", 1.0)),
    ),
    Metric(
        "rooms",
        "msg_per_s",
        "rooms: 1000 clients / 50 channels, all send",
        "msg/s",
        min_ratio=(("ngircd", 2.0), ("inspircd", 1.0)),
    ),
    Metric("direct", "msg_per_s", "direct: 1000 clients, DMs to random nicks", "msg/s"),
    Metric(
        "connect", "reg_per_s", "connect: {n} registrations (guests)", "registrations/s", min_ratio=(("ngircd", 1.0),)
    ),
    Metric(
        "idle",
        "kb_per_conn",
        "idle: {n} connections held",
        "kB RSS per connection",
        higher_better=False,
        digits=2,
        at_most=8.0,
    ),
    Metric("sasl", "logins_per_s", "SASL storm: {n} logins at once, argon2id", "logins/s", digits=1),
    Metric("sasl", "logins_ok", "SASL storm: logins that succeeded", "of {n}", at_least=-1),
    Metric(
        "sasl",
        "probe_p99_ms",
        "SASL storm: other users' messages meanwhile, p99",
        "ms",
        higher_better=False,
        digits=1,
        at_most=100.0,
    ),
    Metric("sasl", "probe_lost", "SASL storm: other users' messages lost", "messages", higher_better=False, at_most=0),
    Metric(
        "history", "stored_per_s", "history: messages stored (SQLite, batched), {n} appended", "msg/s", at_least=20000
    ),
    Metric(
        "history",
        "latest_p99_ms",
        "history: CHATHISTORY LATEST 50 at {n} messages, p99",
        "ms",
        higher_better=False,
        digits=2,
        at_most=5.0,
    ),
    Metric(
        "history",
        "before_p99_ms",
        "history: CHATHISTORY BEFORE 50 at {n} messages, p99",
        "ms",
        higher_better=False,
        digits=2,
        at_most=5.0,
    ),
    Metric(
        "reconnect",
        "guests_back_s",
        "reconnect storm, {n} guests re-joining: all back",
        "s after the kill",
        higher_better=False,
        digits=2,
        at_most=10.0,
    ),
    Metric(
        "reconnect",
        "accounts_back_s",
        "reconnect storm, {n} accounts (SASL, channels restored): all back",
        "s after the kill",
        higher_better=False,
        digits=2,
        at_most=10.0,
    ),
    Metric(
        "reconnect",
        "missing_acked",
        "reconnect storm (both modes): acknowledged messages missing from history",
        "messages",
        higher_better=False,
        at_most=0,
    ),
)


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell_text(cell: Cell | None, digits: int) -> str:
    if cell is None or cell.count == 0:
        return "n/a"
    if not cell.values:
        return "no result" + (f" ({cell.missing}×)" if cell.missing > 1 else "")
    med = _fmt(cell.median(), digits)
    if len(cell.values) == 1 and not cell.missing and not cell.ladder_top and not cell.generator_busy:
        return med
    text = f"{med} [{_fmt(cell.low(), digits)}–{_fmt(cell.high(), digits)}]"
    if cell.missing:
        text += f", {cell.missing} of {cell.count} without result"
    if cell.ladder_top:
        text += f" (ladder top in {cell.ladder_top}: at least)"
    if cell.generator_busy:
        text += f" (generator ≥ 90 % busy in {cell.generator_busy})"
    return text


def collect(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Cell]:
    """Cells from the ``headline`` records, with the flags of rate results."""
    busy_runs = {
        (r.get("scenario"), r.get("server"), r.get("rep"), r.get("rate"))
        for r in records
        if r.get("kind") == "run" and r.get("passed") and (r.get("metrics") or {}).get("generator_busy")
    }
    cells: dict[tuple[str, str, str], Cell] = {}
    for rec in records:
        if rec.get("kind") != "headline":
            continue
        key = (str(rec["scenario"]), str(rec["metric"]), str(rec["server"]))
        cell = cells.setdefault(key, Cell())
        cell.add(rec.get("value"))
        if rec.get("ladder_top"):
            cell.ladder_top += 1
        if (rec["scenario"], rec["server"], rec.get("rep"), rec.get("value")) in busy_runs:
            cell.generator_busy += 1
    return cells


def sizes(records: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """The client or message count behind each row (from the headline records)."""
    out: dict[tuple[str, str], int] = {}
    for rec in records:
        if rec.get("kind") != "headline":
            continue
        n = rec.get("clients") or rec.get("messages")
        if isinstance(n, int):
            key = (str(rec["scenario"]), str(rec["metric"]))
            out[key] = max(out.get(key, 0), n)
    return out


def _verdict(metric: Metric, cells: dict[tuple[str, str, str], Cell], n: int | None) -> str:
    mine = cells.get((metric.scenario, metric.metric, "lanchat"))
    if mine is None or mine.median() is None:
        return "—" if mine is None else "not met (no result)"
    value = mine.median()
    assert value is not None
    parts: list[str] = []
    ok = True
    for peer, wanted in metric.min_ratio:
        theirs = cells.get((metric.scenario, metric.metric, peer))
        other = theirs.median() if theirs is not None else None
        if not other:
            continue
        ratio = value / other
        met = ratio >= wanted
        ok &= met
        bound = "≤ " if theirs is not None and theirs.ladder_top and not mine.ladder_top else ""
        parts.append(f"{bound}{ratio:.2f}× {LABELS[peer]} (≥ {wanted:g}×)")
    if metric.at_least is not None:
        wanted_min = float(n or 0) if metric.at_least < 0 else metric.at_least
        met = value >= wanted_min
        ok &= met
        parts.append(f"≥ {_fmt(wanted_min, 0)}")
    if metric.at_most is not None:
        met = value <= metric.at_most
        ok &= met
        parts.append(f"≤ {_fmt(metric.at_most, metric.digits if metric.at_most else 0)}")
    if not parts:
        return "—"
    return ("met: " if ok else "**not met**: ") + ", ".join(parts)


def table(records: list[dict[str, Any]]) -> str:
    """The Markdown table."""
    cells = collect(records)
    counts = sizes(records)
    smoke = bool(session_of(records).get("quick"))
    present = [s for s in SERVERS if any(k[2] == s for k in cells)]
    peers = [p for p in RATIO_TO if p in present]
    head = ["scenario", "unit", *(LABELS[s] for s in present), *(f"lanchat / {LABELS[p]}" for p in peers), "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in METRICS:
        row_cells = [cells.get((metric.scenario, metric.metric, s)) for s in present]
        if all(c is None for c in row_cells):
            continue
        n = counts.get((metric.scenario, metric.metric))
        label = metric.label.replace("{n}", f"{n:,}" if n else "N")
        unit = metric.unit.replace("{n}", f"{n:,}" if n else "N")
        unit += "" if metric.higher_better else " (lower is better)"
        row = [label, unit, *(_cell_text(c, metric.digits) for c in row_cells)]
        mine = cells.get((metric.scenario, metric.metric, "lanchat"))
        for peer in peers:
            theirs = cells.get((metric.scenario, metric.metric, peer))
            a = mine.median() if mine is not None else None
            b = theirs.median() if theirs is not None else None
            if a is None or not b:
                row.append("—")
                continue
            # a peer at the ladder's top is a lower bound, so the ratio is an upper bound
            bound = ""
            if theirs is not None and theirs.ladder_top and not (mine is not None and mine.ladder_top):
                bound = "≤ "
            elif mine is not None and mine.ladder_top and not (theirs is not None and theirs.ladder_top):
                bound = "≥ "
            row.append(f"{bound}{a / b:.2f}×")
        row.append("smoke run, not judged" if smoke else _verdict(metric, cells, n))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def deliveries_note(records: list[dict[str, Any]]) -> str:
    """Deliveries per second at the medians of fanout and rooms (msg/s × recipients)."""
    cells = collect(records)
    out: list[str] = []
    for scenario, per in (("fanout", 499), ("rooms", 19)):
        parts = []
        for server in SERVERS:
            cell = cells.get((scenario, "msg_per_s", server))
            med = cell.median() if cell is not None else None
            if med is not None:
                parts.append(f"{LABELS[server]} {med * per / 1e6:.2f} M/s")
        if parts:
            out.append(f"{scenario} deliveries (msg/s × {per}): " + ", ".join(parts))
    noise = noise_note(records)
    if noise:
        out.append(noise)
    return "\n\n".join(out)


def noise_note(records: list[dict[str, Any]]) -> str:
    """How many runs had other processes on the server's CPU (a shared machine)."""
    runs = [r for r in records if r.get("kind") == "run" and isinstance(r.get("noise"), dict)]
    if not runs:
        return ""
    foreign = sorted(float(r["noise"].get("server_core_foreign_pct") or 0.0) for r in runs)
    noisy = sum(1 for v in foreign if v > 10.0)
    return (
        f"Other processes on the server's CPU during a run: median {foreign[len(foreign) // 2]:.1f} %,"
        f" max {foreign[-1]:.1f} %; {noisy} of {len(runs)} runs above 10 %."
    )


def session_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``session`` record (machine, versions, command)."""
    for rec in records:
        if rec.get("kind") == "session":
            return rec
    return {}


def machine_text(records: list[dict[str, Any]]) -> str:
    """The machine and versions, as a Markdown list."""
    s = session_of(records)
    m: dict[str, Any] = s.get("machine") or {}
    versions: dict[str, Any] = s.get("versions") or {}
    source: dict[str, Any] = s.get("lanchat_source") or {}
    lines = [
        f"- CPU: {m.get('cpu_model', '?')}, nproc {m.get('nproc', '?')}; kernel {m.get('kernel', '?')}",
        f"- pinning: server on CPU {m.get('server_cpu')}, load generators on CPU {m.get('load_cpu')} (taskset)",
        f"- Python {m.get('python', '?')}, uvloop {m.get('uvloop')}, lanchat {m.get('lanchat', '?')}"
        f" at {m.get('git_commit', '?')}",
        "- servers: " + ", ".join(str(v) for v in versions.values()),
        f"- lanchat source: copy of `src/lanchat` taken at the start, sha256 {source.get('sha256', '?')}",
        f"- session {s.get('session', '?')} ({s.get('time', '?')}),"
        f" results in `bench/results/{s.get('session')}.jsonl`",
    ]
    return "\n".join(lines)


def command_text(records: list[dict[str, Any]]) -> str:
    """The exact command of the session."""
    return "```sh\n" + str(session_of(records).get("command", "?")) + "\n```"


_BLOCK = re.compile(r"(<!-- bench:(\w+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)


def update_docs(path: Path, records: list[dict[str, Any]]) -> bool:
    """Replace the generated blocks (``<!-- bench:NAME -->`` … ``<!-- /bench:NAME -->``) of a
    Markdown file; False when the file has none."""
    if not path.is_file():
        return False
    text = path.read_text()
    makers: dict[str, Callable[[list[dict[str, Any]]], str]] = {
        "table": table,
        "deliveries": deliveries_note,
        "machine": machine_text,
        "command": command_text,
    }
    found = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        maker = makers.get(match.group(2))
        if maker is None:
            return match.group(0)
        found = True
        return match.group(1) + maker(records).rstrip("\n") + "\n" + match.group(4)

    new = _BLOCK.sub(replace, text)
    if found:
        path.write_text(new)
    return found
