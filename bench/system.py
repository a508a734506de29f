"""The machine: CPUs, limits, free ports, process statistics from /proc, packages."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: The project's root (the folder holding ``bench/`` and ``src/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """Something the benchmark cannot go on without (a missing tool, a server that won't start)."""


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPU the server under test runs on and which the load generators run on."""

    server_cpu: int | None
    load_cpu: int | None

    @classmethod
    def choose(cls, server_cpu: int | None, load_cpu: int | None) -> Pinning:
        """Defaults: server on CPU 1, load on CPU 0; no pinning on a one-CPU machine."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None)
        server = cpus[1] if server_cpu is None else server_cpu
        load = cpus[0] if load_cpu is None else load_cpu
        if server == load:
            raise BenchError("the server and the load generator must be pinned to different CPUs")
        return cls(server, load)

    def server_prefix(self) -> list[str]:
        """``taskset -c N`` for the server's command line."""
        return _taskset(self.server_cpu)

    def load_prefix(self) -> list[str]:
        """``taskset -c N`` for a load generator's command line."""
        return _taskset(self.load_cpu)

    def pin_self_to_load(self) -> None:
        """Run this process (the in-process Python clients) on the load CPU."""
        if self.load_cpu is not None:
            os.sched_setaffinity(0, {self.load_cpu})


def _taskset(cpu: int | None) -> list[str]:
    if cpu is None:
        return []
    if shutil.which("taskset") is None:
        raise BenchError("taskset is missing (Debian package util-linux)")
    return ["taskset", "-c", str(cpu)]


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the servers and generators) to at
    least ``wanted`` when allowed; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            soft, hard = wanted, wanted
        except (ValueError, OSError):
            pass  # no CAP_SYS_RESOURCE: stay under the hard limit
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int) -> bool:
    """True when a socket listens on 127.0.0.1:port (read from /proc/net/tcp, no connection)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[1] == wanted and fields[3] == "0A":
            return True
    return False


def cpu_ticks() -> dict[int, tuple[int, int]]:
    """Per CPU: (ticks running anything: user+nice+system, all ticks) from /proc/stat."""
    out: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *values = line.split()
        ticks = [int(v) for v in values]
        out[int(name[3:])] = (ticks[0] + ticks[1] + ticks[2], sum(ticks[:8]))
    return out


def busy_seconds(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpu: int) -> float:
    """CPU seconds spent running something on one CPU between two :func:`cpu_ticks` readings."""
    return (after[cpu][0] - before[cpu][0]) / _CLOCK_TICKS


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy every CPU together is over a short window (100 = all CPUs all the time)."""
    before = cpu_ticks()
    time.sleep(seconds)
    after = cpu_ticks()
    busy = sum(after[c][0] - before[c][0] for c in after if c in before)
    total = sum(after[c][1] - before[c][1] for c in after if c in before)
    return 100.0 * busy / total if total else 0.0


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM …), or None."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll a zero-argument callable until it returns true or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def ensure_binary(binary: str, package: str, *, install: bool) -> str:
    """Path of ``binary``; installs the Debian package when it is missing and we may."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if found:
        return found
    if not install:
        raise BenchError(f"{binary} is missing: apt-get install {package} (or run without --no-install)")
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise BenchError(f"{binary} is missing and cannot be installed here (needs root and apt-get)")
    print(f"bench: installing {package} with apt-get", file=sys.stderr, flush=True)
    # RUNLEVEL=1 keeps invoke-rc.d from starting the package's system service.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    subprocess.run(["apt-get", "update"], check=False, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], check=True, env=env, timeout=1200)
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if not found:
        raise BenchError(f"{package} was installed but {binary} is still missing")
    return found


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(pinning: Pinning) -> dict[str, object]:
    """What the numbers were measured on."""
    try:
        uvloop_version: str | None = importlib.metadata.version("uvloop")
    except importlib.metadata.PackageNotFoundError:
        uvloop_version = None
    try:
        from lanchat import __version__ as lanchat_version
    except ImportError:
        lanchat_version = "?"
    commit = _first_line(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = bool(_first_line(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"]))
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": uvloop_version,
        "lanchat": lanchat_version,
        "git_commit": commit + ("+dirty" if dirty and commit else ""),
        "server_cpu": pinning.server_cpu,
        "load_cpu": pinning.load_cpu,
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def tool_version(cmd: list[str]) -> str:
    """First line of a tool's ``--version`` output."""
    return _first_line(cmd)
