"""The benchmark harness's own logic, without running a benchmark: how one run is judged, how
the step-up finds the highest passing rate, how results become the table, and that the blocks
of docs/performance.md are what the report makes of the results file they name."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from bench import report, results
from bench.results import ResultLog
from bench.run import Driver
from bench.scenarios import RATE_SCENARIOS, Verdict, judge_rate
from bench.servers import ServerKind

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
ROOMS = RATE_SCENARIOS["rooms"]


# -- judging one run -------------------------------------------------------------------------


def _ircload(**changes: Any) -> dict[str, Any]:
    """ircload's JSON for a clean run at 1,000 msg/s, with ``changes`` to its ``run`` part."""
    run: dict[str, Any] = {
        "sent_per_s": 1000.0,
        "delivered_per_s": 19000.0,
        "lost": 0,
        "gaps": 0,
        "out_of_order": 0,
        "misrouted": 0,
        "latency_ms": {"p50": 5.0, "p99": 40.0, "max": 80.0},
        "gen_cpu_pct": 30.0,
    }
    run.update(changes)
    return {"status": "ok", "run": run, "errors": {"disconnects": 0}}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, "ok"),
        ({"lost": 3}, "lost 3"),
        ({"gaps": 1}, "gaps 1"),
        ({"out_of_order": 2}, "out_of_order 2"),
        ({"misrouted": 1}, "misrouted 1"),
        ({"latency_ms": {"p50": 5.0, "p99": 100.5}}, "p99 100.5 ms > 100 ms"),
        ({"latency_ms": {}}, "p99 None ms > 100 ms"),
        ({"sent_per_s": 900.0}, "sent only 900 of 1000 msg/s"),
    ],
)
def test_a_rate_passes_only_with_nothing_lost_in_order_within_100_ms_at_the_asked_rate(
    changes: dict[str, Any], reason: str
) -> None:
    verdict = judge_rate(_ircload(**changes), 1000)
    assert (verdict.passed, verdict.reason) == (reason == "ok", reason)


def test_a_run_the_generator_could_not_finish_fails_with_its_error() -> None:
    verdict = judge_rate({"status": "error", "errors": {"first_error": "connection refused"}}, 1000)
    assert not verdict.passed
    assert verdict.reason == "status error: connection refused"


def test_a_run_with_the_generator_near_its_limit_is_flagged() -> None:
    assert judge_rate(_ircload(gen_cpu_pct=95.0), 1000).metrics["generator_busy"] is True
    assert judge_rate(_ircload(), 1000).metrics["generator_busy"] is False


# -- the step-up -----------------------------------------------------------------------------


def _step_up(passes_up_to: float, start: int) -> tuple[int | None, list[int]]:
    """The step-up over the rooms ladder for a server that passes every rate up to
    ``passes_up_to`` and fails above it; returns its answer and the rates it tried."""
    tried: list[int] = []

    def rate_run(sc: object, kind: object, rep: int, rate: int) -> Verdict:
        tried.append(rate)
        passed = rate <= passes_up_to
        return Verdict(passed, "ok" if passed else "p99 150 ms > 100 ms", {"p99_ms": 50.0 if passed else 150.0})

    driver = cast(Driver, SimpleNamespace(rate_run=rate_run))
    best, trials = Driver.step_up(driver, ROOMS, cast(ServerKind, "server"), 1, start)
    assert [t[0] for t in trials] == tried
    return best, tried


def test_the_step_up_finds_the_highest_passing_rate_wherever_it_is_and_wherever_it_starts() -> None:
    ladder = ROOMS.ladder
    limits = [ladder[0] - 1, *ladder, *(r + 1 for r in ladder)]
    for start in range(len(ladder)):
        for limit in limits:
            best, tried = _step_up(limit, start)
            passing = [r for r in ladder if r <= limit]
            assert best == (max(passing) if passing else None), (start, limit, tried)
            assert len(tried) == len(set(tried)), (start, limit, tried)  # no rung run twice


def test_the_step_up_climbs_every_other_rung_then_fills_in_below_the_first_failure() -> None:
    ladder = ROOMS.ladder
    best, tried = _step_up(ladder[5], 0)
    assert best == ladder[5]
    assert tried == [ladder[0], ladder[2], ladder[4], ladder[6], ladder[5]]
    best, tried = _step_up(ladder[-1], 0)  # passes everything: the top, reached in strides
    assert best == ladder[-1]
    assert tried == [*ladder[::2], *([ladder[-1]] if len(ladder) % 2 == 0 else [])]


# -- the table -------------------------------------------------------------------------------


def _write_rooms_and_fanout(path: Path) -> None:
    log = ResultLog(path, "test")
    log.write("session", machine={"nproc": 2}, command=".venv/bin/python -m bench")
    for rep, (mine, ngircd) in enumerate([(20000, 28000), (10000, 24000), (24000, 20000)], start=1):
        log.headline("rooms", "msg_per_s", "lanchat", rep, mine)
        log.headline("rooms", "msg_per_s", "ngircd", rep, ngircd)
        log.headline("rooms", "msg_per_s", "inspircd", rep, 60000, ladder_top=True)
        log.headline("fanout", "msg_per_s", "lanchat", rep, 20000, ladder_top=True)
        log.headline("fanout", "msg_per_s", "ngircd", rep, [5000, 4000, 5000][rep - 1])
        log.headline("fanout", "msg_per_s", "inspircd", rep, 8000)
        log.headline("idle", "kb_per_conn", "lanchat", rep, 4.21, clients=10000)
    log.headline("idle", "kb_per_conn", "ngircd", 1, 2.76, clients=10000)


def _row(table: str, starts: str) -> list[str]:
    [line] = [line for line in table.splitlines() if line.startswith(f"| {starts}")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_table_gives_medians_ranges_bounded_ratios_and_the_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    _write_rooms_and_fanout(path)
    table = report.table(results.load(path))
    head = _row(table, "scenario")
    assert head == [
        "scenario",
        "unit",
        "lanchat",
        "ngIRCd",
        "InspIRCd",
        "lanchat / ngIRCd",
        "lanchat / InspIRCd",
        "target",
    ]

    rooms = dict(zip(head, _row(table, "rooms"), strict=True))
    assert rooms["lanchat"] == "20,000 [10,000–24,000]"
    assert rooms["InspIRCd"] == "60,000 [60,000–60,000] (ladder top in 3: at least)"
    assert rooms["lanchat / ngIRCd"] == "0.83×"
    assert rooms["lanchat / InspIRCd"] == "≤ 0.33×"  # InspIRCd's figure is only a lower bound
    assert rooms["target"] == "**not met**: 0.83× ngIRCd (≥ 2×), ≤ 0.33× InspIRCd (≥ 1×)"

    fanout = dict(zip(head, _row(table, "fanout"), strict=True))
    assert fanout["lanchat / ngIRCd"] == "≥ 4.00×"  # lanchat's figure is only a lower bound
    assert fanout["target"] == "met: 4.00× ngIRCd (≥ 2×), 2.50× InspIRCd (≥ 1×)"

    idle = dict(zip(head, _row(table, "idle"), strict=True))
    assert idle["unit"] == "kB RSS per connection (lower is better)"
    assert idle["lanchat"] == "4.21 [4.21–4.21]"
    assert idle["target"] == "met: ≤ 8.00"


def test_updating_the_docs_replaces_only_the_generated_blocks(tmp_path: Path) -> None:
    results_file = tmp_path / "session.jsonl"
    _write_rooms_and_fanout(results_file)
    page = tmp_path / "performance.md"
    page.write_text("# Title\n\nprose\n<!-- bench:table -->\nold table\n<!-- /bench:table -->\nmore prose\n")
    assert report.update_docs(page, results.load(results_file))
    text = page.read_text()
    assert text.startswith("# Title\n\nprose\n<!-- bench:table -->\n| scenario |")
    assert text.endswith("|\n<!-- /bench:table -->\nmore prose\n")
    assert "old table" not in text
    plain = tmp_path / "plain.md"
    plain.write_text("no blocks\n")
    assert not report.update_docs(plain, results.load(results_file))
    assert plain.read_text() == "no blocks\n"


def test_the_blocks_of_docs_performance_are_made_from_the_results_file_they_name() -> None:
    text = DOCS.read_text()
    machine = re.search(r"<!-- bench:machine -->\n(.*?)<!-- /bench:machine -->", text, re.S)
    assert machine is not None
    named = re.search(r"results in `bench/results/([\w-]+\.jsonl)`", machine.group(1))
    assert named is not None
    records = results.load(ROOT / "bench" / "results" / named.group(1))
    assert records, f"{named.group(1)} is missing or empty"
    makers = {
        "table": report.table,
        "deliveries": report.deliveries_note,
        "machine": report.machine_text,
        "command": report.command_text,
    }
    for name, make in makers.items():
        block = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", text, re.S)
        assert block is not None, name
        assert block.group(1).rstrip("\n") == make(records).rstrip("\n"), name
