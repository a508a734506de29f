"""Results: one JSON object per line in ``bench/results/SESSION.jsonl``.

Record kinds: ``session`` (machine, versions, command), ``run`` (one server run: the load
generator's output, the verdict, the server's peak RSS and CPU seconds), ``headline`` (one
repetition's result for a table cell) and ``profile`` (what py-spy saw).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def session_id(quick: bool) -> str:
    """A sortable name for this invocation (UTC time)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + ("-quick" if quick else "")


class ResultLog:
    """Appends records to one JSON-lines file, flushing each line."""

    def __init__(self, path: Path, session: str) -> None:
        self.path = path
        self.session = session
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record and return it."""
        record: dict[str, Any] = {
            "kind": kind,
            "session": self.session,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **fields,
        }
        with self.path.open("a") as out:
            out.write(json.dumps(record, sort_keys=False, default=str) + "\n")
        return record

    def headline(
        self, scenario: str, metric: str, server: str, rep: int, value: float | None, **extra: Any
    ) -> dict[str, Any]:
        """One repetition's value for a table cell."""
        return self.write("headline", scenario=scenario, metric=metric, server=server, rep=rep, value=value, **extra)


def load(path: Path) -> list[dict[str, Any]]:
    """Every record of a results file (lines that do not parse are skipped)."""
    records: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def latest(directory: Path = RESULTS_DIR, *, quick: bool | None = None) -> Path | None:
    """The newest results file (optionally only quick or only full runs)."""
    files = sorted(directory.glob("*.jsonl"))
    if quick is not None:
        files = [f for f in files if f.stem.endswith("-quick") == quick]
    return files[-1] if files else None


@dataclass
class Cell:
    """The repetitions of one (scenario, metric, server)."""

    values: list[float] = field(default_factory=list)
    missing: int = 0
    #: repetitions whose step-up passed the ladder's top rung (the result is a lower bound)
    ladder_top: int = 0
    #: repetitions whose best rung had the load generator at ≥ 90 % CPU
    generator_busy: int = 0

    def add(self, value: float | None) -> None:
        """Count a repetition (None: no passing rate / no result)."""
        if value is None:
            self.missing += 1
        else:
            self.values.append(float(value))

    @property
    def count(self) -> int:
        """Repetitions seen."""
        return len(self.values) + self.missing

    def median(self) -> float | None:
        """The median of the repetitions that gave a value."""
        if not self.values:
            return None
        ordered = sorted(self.values)
        n = len(ordered)
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    def low(self) -> float | None:
        """The smallest value."""
        return min(self.values) if self.values else None

    def high(self) -> float | None:
        """The largest value."""
        return max(self.values) if self.values else None
