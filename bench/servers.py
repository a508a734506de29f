"""The servers under test: lanchat and the peers (ngIRCd, InspIRCd), each started from a
generated config in its own run folder, pinned to the server CPU, on a loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench.system import (
    LOOPBACK,
    BenchError,
    Pinning,
    ensure_binary,
    free_port,
    is_listening,
    proc_cpu_seconds,
    proc_status_kb,
    tool_version,
)

CONFIGS = Path(__file__).resolve().parent / "configs"
START_TIMEOUT = 60.0
#: lanchat sections switched off in the generated config (``[SECTION] enabled = false``).
OFF_SECTIONS = ("tls", "discovery", "web")
STOP_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What /proc says about a server process (read just before it is stopped)."""

    peak_rss_kb: int | None
    rss_kb: int | None
    cpu_s: float | None
    exit_code: int | None = None

    def as_dict(self) -> dict[str, object]:
        """For the JSON line."""
        return {
            "peak_rss_kb": self.peak_rss_kb,
            "rss_kb": self.rss_kb,
            "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 3),
            "exit_code": self.exit_code,
        }


class RunningServer:
    """A server process this benchmark started; stopped only by its own PID."""

    def __init__(self, kind: ServerKind, proc: subprocess.Popen[bytes], port: int, rundir: Path) -> None:
        self.kind = kind
        self.proc = proc
        self.port = port
        self.rundir = rundir
        self.started = time.monotonic()
        self.ready_s = 0.0

    @property
    def pid(self) -> int:
        """The server's PID (taskset execs the server, so it is the process we started)."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def stats(self) -> ServerStats:
        """Peak RSS (VmHWM), current RSS and CPU seconds so far."""
        return ServerStats(
            proc_status_kb(self.pid, "VmHWM"), proc_status_kb(self.pid, "VmRSS"), proc_cpu_seconds(self.pid)
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the server listens on its port; raise if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"{self.kind.label} exited at start:\n{self.log_tail()}")
            if is_listening(self.port):
                self.ready_s = time.monotonic() - self.started
                return
            time.sleep(0.02)
        self.stop()
        raise BenchError(f"{self.kind.label} did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> ServerStats:
        """Signal the server by PID (SIGTERM: a clean stop), wait, SIGKILL if it lingers."""
        before = self.stats()
        if self.alive():
            try:
                os.kill(self.pid, sig)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                print(f"bench: {self.kind.label} (pid {self.pid}) ignored {sig.name}; killing it", file=sys.stderr)
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        return ServerStats(before.peak_rss_kb, before.rss_kb, before.cpu_s, self.proc.returncode)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output."""
        path = self.rundir / "server.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerKind(ABC):
    """How to configure and start one kind of server."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: ircload -P (connections in progress at once) that suits this server's accept path.
    concurrency: ClassVar[int]
    #: Speaks CAP (IRCv3) with echo-message and message-tags.
    ircv3: ClassVar[bool] = False
    #: A reference, not a peer: measured only in the rate and connect scenarios.
    reference: ClassVar[bool] = False

    def __init__(self, pinning: Pinning) -> None:
        self.pinning = pinning

    @abstractmethod
    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        """Write the config into ``rundir`` and return the command line (without taskset)."""

    @abstractmethod
    def version(self) -> str:
        """The server's version string."""

    def start(self, rundir: Path, *, port: int | None = None, data_dir: Path | None = None) -> RunningServer:
        """Start the server pinned to the server CPU and wait until it listens."""
        rundir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        argv = [*self.pinning.server_prefix(), *self.command(rundir, port, data_dir)]
        with (rundir / "server.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, cwd=rundir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        server = RunningServer(self, proc, port, rundir)
        server.wait_ready()
        return server


def _fill(template: str, **values: str) -> str:
    text = (CONFIGS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


class Lanchat(ServerKind):
    """``lanchat serve`` from this checkout's virtualenv."""

    name = "lanchat"
    label = "lanchat"
    concurrency = 256
    ircv3 = True

    def __init__(self, pinning: Pinning, overrides: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(pinning)
        self.overrides = overrides or []

    def config_text(self) -> str:
        """The generated TOML: the template, listeners other than plain IRC off, overrides."""
        from lanchat.config import KEYS

        sections: dict[str, dict[str, str]] = {}
        # Listeners other than plain IRC (TLS, web) bind every interface and LAN announcements
        # go out on the network: none of that is loopback-only, and none of it is measured.
        for section in OFF_SECTIONS:
            if (section, "enabled") in KEYS:
                sections.setdefault(section, {})["enabled"] = "false"
        for section, key, value in self.overrides:
            if (section, key) not in KEYS:
                raise BenchError(f"lanchat has no setting {section}.{key}")
            sections.setdefault(section, {})[key] = value
        extra: list[str] = []
        base = _fill("lanchat.toml.in", EXTRA="")
        for section, values in sections.items():
            header = f"[{section}]"
            if header in base:
                # Put overrides of the template's own sections right under their header.
                lines = "".join(f"{k} = {v}\n" for k, v in values.items())
                base = base.replace(header + "\n", header + "\n" + lines, 1)
                continue
            extra.append(f"\n{header}\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
        return base.rstrip("\n") + "\n" + "".join(extra)

    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        config = rundir / "lanchat.toml"
        config.write_text(self.config_text())
        data = data_dir or rundir / "data"
        return [
            sys.executable,
            "-m",
            "lanchat",
            "serve",
            "--config",
            str(config),
            "--data",
            str(data),
            "--host",
            LOOPBACK,
            "--irc-port",
            str(port),
        ]

    def version(self) -> str:
        from lanchat import __version__

        return f"lanchat {__version__}"


class Ngircd(ServerKind):
    """ngIRCd from Debian's package, in the foreground."""

    name = "ngircd"
    label = "ngIRCd"
    # ngIRCd listens with a backlog of 10 (../shared/bench/README.md).
    concurrency = 8

    def __init__(self, pinning: Pinning, *, install: bool) -> None:
        super().__init__(pinning)
        self.binary = ensure_binary("ngircd", "ngircd", install=install)

    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        config = rundir / "ngircd.conf"
        config.write_text(_fill("ngircd.conf.in", PORT=str(port), RUNDIR=str(rundir)))
        return [self.binary, "--nodaemon", "-f", str(config)]

    def version(self) -> str:
        return tool_version([self.binary, "--version"]).split("-")[0]


class Inspircd(ServerKind):
    """InspIRCd from Debian's package, in the foreground."""

    name = "inspircd"
    label = "InspIRCd"
    # InspIRCd answers registrations on its once-a-second tick: open everything at once.
    concurrency = 0

    def __init__(self, pinning: Pinning, *, install: bool) -> None:
        super().__init__(pinning)
        self.binary = ensure_binary("inspircd", "inspircd", install=install)

    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        config = rundir / "inspircd.conf"
        config.write_text(_fill("inspircd.conf.in", PORT=str(port), RUNDIR=str(rundir)))
        (rundir / "inspircd.motd").write_text("load test\n")
        argv = [self.binary, "--nofork", "--config", str(config)]
        if os.geteuid() == 0:
            argv.insert(2, "--runasroot")
        return argv

    def version(self) -> str:
        return tool_version([self.binary, "--version"]).removesuffix("-debian")


class IrcSink(ServerKind):
    """``ircsink`` from ../shared/bench (built beside ircload): a trivial C relay with no
    checks, no modes and no storage. Its limit is the load generator's, so it tells how far
    up the rate scenarios can measure anything on this machine."""

    name = "ircsink"
    label = "ircsink"
    concurrency = 256
    reference = True
    #: It exits by itself after this long, should the driver die without stopping it.
    LIFETIME_S = 3600

    def __init__(self, pinning: Pinning, binary: Path) -> None:
        super().__init__(pinning)
        if not binary.is_file():
            raise BenchError(f"no ircsink at {binary} (it is built with ircload)")
        self.binary = binary

    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        return [str(self.binary), "-p", str(port), "--lifetime", str(self.LIFETIME_S)]

    def version(self) -> str:
        return "ircsink (../shared/bench)"


class PyRelay(ServerKind):
    """``bench/pyrelay.py``: the bare Python relay the issue compares with (ircsink's protocol
    in CPython on uvloop, one write per connection per loop iteration, nothing else). It shows
    how much of a C server's rate a Python server on one core can reach at all."""

    name = "pyrelay"
    label = "Python relay"
    concurrency = 256
    reference = True
    #: It exits by itself after this long, should the driver die without stopping it.
    LIFETIME_S = 3600

    def command(self, rundir: Path, port: int, data_dir: Path | None) -> list[str]:
        relay = Path(__file__).resolve().with_name("pyrelay.py")
        return [sys.executable, str(relay), "--port", str(port), "--lifetime", str(self.LIFETIME_S)]

    def version(self) -> str:
        return f"Python relay (bench/pyrelay.py, Python {sys.version.split()[0]})"


#: Every server the driver knows, in table order.
SERVER_NAMES = ("lanchat", "ngircd", "inspircd", "pyrelay", "ircsink")


def make_servers(
    names: list[str],
    pinning: Pinning,
    *,
    install: bool,
    lanchat_overrides: list[tuple[str, str, str]],
    ircsink: Path,
) -> list[ServerKind]:
    """The server kinds to measure, in the order asked."""
    out: list[ServerKind] = []
    for name in names:
        if name == "lanchat":
            out.append(Lanchat(pinning, lanchat_overrides))
        elif name == "ngircd":
            out.append(Ngircd(pinning, install=install))
        elif name == "inspircd":
            out.append(Inspircd(pinning, install=install))
        elif name == "pyrelay":
            out.append(PyRelay(pinning))
        elif name == "ircsink":
            out.append(IrcSink(pinning, ircsink))
        else:
            raise BenchError(f"unknown server {name!r} ({', '.join(SERVER_NAMES)})")
    return out


def remove_tree(path: Path) -> None:
    """Delete a run folder (ignoring what is already gone)."""
    shutil.rmtree(path, ignore_errors=True)
