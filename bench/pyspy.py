"""py-spy: sample lanchat while it runs at its limit, and boil the stacks down to the functions
that take the time (own time and time including callees, per thread)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.system import BenchError, Pinning

RATE_HZ = 200
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


def binary(install: bool = False) -> str:
    """py-spy from this virtualenv (or PATH); with ``install``, pip-installs it into this
    virtualenv when it is missing."""
    here = Path(sys.executable).parent / "py-spy"
    if here.is_file():
        return str(here)
    found = shutil.which("py-spy")
    if found:
        return found
    if install:
        print("bench: installing py-spy into this virtualenv (for --profile)", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=False)
        if done.returncode == 0 and here.is_file():
            return str(here)
    raise BenchError(f"py-spy is missing: {sys.executable} -m pip install py-spy")


def record(pid: int, seconds: float, out: Path, pinning: Pinning) -> subprocess.CompletedProcess[str]:
    """Sample ``pid`` for ``seconds`` without pausing it (collapsed stacks with thread ids)."""
    argv = [
        *pinning.load_prefix(),
        binary(),
        "record",
        "--nonblocking",
        "--threads",
        "--nolineno",
        "--rate",
        str(RATE_HZ),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--output",
        str(out),
        "--pid",
        str(pid),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("/lanchat/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lanchat/":
                path = "lanchat/" + path
            break
    return f"{match.group('func')} ({path})"


def _thread_name(frame: str) -> str:
    """``thread (1234): MainThread`` -> ``MainThread``; worker numbers dropped (``argon2_1`` -> ``argon2``)."""
    name = frame.split(": ", 1)[1] if ": " in frame else frame
    return re.sub(r"_\d+$", "", name)


def summarize(collapsed: Path, seconds: float, top: int = 20) -> dict[str, Any]:
    """Per thread: the share of wall time it was busy, and the functions taking that time
    (own time, and time including callees), each as a percentage of wall time."""
    own: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    busy: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _thread_name(frames[0]) if frames[0].startswith("thread") else "?"
        body = [f for f in frames if not f.startswith(("thread (", "process "))]
        total += count
        busy[thread] += count
        if body:
            own.setdefault(thread, Counter())[_short(body[-1])] += count
        for name in {_short(f) for f in body}:
            inclusive.setdefault(thread, Counter())[name] += count
    wall = RATE_HZ * seconds

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / wall, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "seconds": seconds,
        "rate_hz": RATE_HZ,
        "note": "percentages are of wall time per thread (100 = one CPU all the time)",
        "threads": {
            thread: {
                "busy_pct": round(100 * n / wall, 1),
                "own_pct": shares(own.get(thread, Counter())),
                "inclusive_pct": shares(inclusive.get(thread, Counter())),
            }
            for thread, n in busy.most_common()
        },
    }
