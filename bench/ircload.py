"""ircload, the C load generator: built from its source folder (never copied into this
project) into the build folder, and run pinned to the load CPU."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.system import PROJECT_ROOT, BenchError, Pinning

#: Where ircload's source is looked for when neither --ircload-src nor the variable says.
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "bench"
SOURCE_ENV = "LANCHAT_BENCH_IRCLOAD_SRC"
_SOURCES = ("ircload.c", "ircsink.c", "Makefile")


def source_dir(option: str | None) -> Path:
    """The ircload source folder: the option, else $LANCHAT_BENCH_IRCLOAD_SRC, else ../shared/bench."""
    chosen = Path(option or os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE).expanduser().resolve()
    if not (chosen / "ircload.c").is_file():
        raise BenchError(
            f"no ircload.c in {chosen}: point --ircload-src (or ${SOURCE_ENV}) at the folder holding ircload.c"
        )
    return chosen


def build(source: Path, build_dir: Path) -> Path:
    """Copy the sources into ``build_dir/ircload`` and run make there; return the binary.

    Rebuilds only when the sources changed (a hash of them is kept next to the binary).
    """
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "gcc")) is None:
        raise BenchError("building ircload needs make and gcc (Debian: build-essential)")
    out = build_dir / "ircload"
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = source / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    stamp = out / ".source-sha256"
    binary = out / "ircload"
    if binary.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return binary
    for name in _SOURCES:
        path = source / name
        if path.is_file():
            target = out / name
            target.unlink(missing_ok=True)
            shutil.copyfile(path, target)
    made = subprocess.run(["make", "-C", str(out), "ircload", "ircsink"], capture_output=True, text=True, check=False)
    if made.returncode != 0 or not binary.is_file():
        raise BenchError(f"building ircload failed:\n{made.stdout}\n{made.stderr}")
    stamp.write_text(digest.hexdigest())
    return binary


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One ircload invocation."""

    scenario: str
    clients: int
    rate: float = 0.0
    senders: int | None = None
    channels: int | None = None
    duration: float = 5.0
    warmup: float = 1.0
    settle: float = 1.0
    drain: float = 5.0
    hold: float | None = None
    concurrency: int | None = None
    reg_timeout: float = 60.0
    join_timeout: float = 60.0
    sasl: bool = False
    sasl_pass: str = ""
    nick: str | None = None
    sasl_user: str | None = None

    def args(self, port: int, server_pid: int | None) -> list[str]:
        """Command-line options for this spec."""
        out = ["-s", self.scenario, "-H", "127.0.0.1", "-p", str(port), "-n", str(self.clients)]
        if self.scenario != "connect":
            out += ["-r", f"{self.rate:g}", "-t", f"{self.duration:g}", "--warmup", f"{self.warmup:g}"]
            out += ["--settle", f"{self.settle:g}", "--drain", f"{self.drain:g}"]
        if self.senders is not None:
            out += ["-S", str(self.senders)]
        if self.channels is not None:
            out += ["-C", str(self.channels)]
        if self.hold is not None:
            out += ["--hold", f"{self.hold:g}"]
        if self.concurrency is not None:
            out += ["-P", str(self.concurrency)]
        out += ["--reg-timeout", f"{self.reg_timeout:g}", "--join-timeout", f"{self.join_timeout:g}"]
        if self.sasl:
            out += ["--sasl", "--sasl-pass", self.sasl_pass]
        if self.nick:
            out += ["--nick", self.nick]
        if self.sasl_user:
            out += ["--sasl-user", self.sasl_user]
        if server_pid:
            out += ["--server-pid", str(server_pid)]
        return out

    def time_budget(self) -> float:
        """Seconds ircload may take at most (its own hard deadline, plus slack)."""
        phases = self.reg_timeout + self.join_timeout + self.settle + self.warmup + self.duration + self.drain
        return phases + (self.hold or 0) + 30


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill an ircload this driver started (by its PID) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Ircload:
    """Runs the built binary."""

    def __init__(self, binary: Path, pinning: Pinning) -> None:
        self.binary = binary
        self.pinning = pinning

    def start(self, spec: LoadSpec, port: int, server_pid: int | None, log: Path) -> subprocess.Popen[bytes]:
        """Start ircload in the background (its JSON goes to ``log``.json, progress to ``log``)."""
        argv = [*self.pinning.load_prefix(), str(self.binary), *spec.args(port, server_pid)]
        with log.open("ab") as err, log.with_suffix(".json").open("wb") as out:
            return subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)

    def finish(self, proc: subprocess.Popen[bytes], spec: LoadSpec, log: Path, started: float) -> dict[str, Any]:
        """Wait for a started ircload (bounded by its time budget) and parse its JSON."""
        remaining = max(1.0, spec.time_budget() - (time.monotonic() - started))
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            stop(proc)
            return {"status": "generator_timeout"}
        except BaseException:
            stop(proc)
            raise
        text = log.with_suffix(".json").read_text().strip()
        if not text:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
            return {"status": f"generator_failed (exit {proc.returncode})", "stderr": tail}
        result: dict[str, Any] = json.loads(text.splitlines()[-1])
        return result

    def run(self, spec: LoadSpec, port: int, server_pid: int | None, log: Path) -> dict[str, Any]:
        """Run ircload to completion and return its JSON object."""
        started = time.monotonic()
        proc = self.start(spec, port, server_pid, log)
        return self.finish(proc, spec, log, started)
