"""Running ``lanchat`` as a real process for command-line tests."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FAST_CONFIG = """
[server]
allow_guests = true
default_channel = "#general"
history_replay = 0
[accounts]
argon2_time_cost = 1
argon2_memory_kib = 8192
argon2_parallelism = 1
[limits]
flood_rate = 0
[tls]
enabled = false
[discovery]
enabled = false
[web]
enabled = false
"""

_LISTENING = re.compile(r"IRC listening on (\S+):(\d+)")


def lanchat(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a lanchat command to completion."""
    done: subprocess.CompletedProcess[str] = _run(args, stdin, env, text=True)
    return done


def lanchat_bytes(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a lanchat command to completion, with raw bytes in and out."""
    done: subprocess.CompletedProcess[bytes] = _run(args, stdin, env, text=False)
    return done


def _run(
    args: tuple[str, ...], stdin: str | bytes | None, env: dict[str, str] | None, *, text: bool
) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(
        [sys.executable, "-m", "lanchat", *args],
        input=stdin,
        capture_output=True,
        text=text,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def python_output(code: str) -> str:
    """What ``python -c code`` prints (stripped), run in a fresh interpreter of this venv."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


class ServerProcess:
    """``lanchat serve`` in a child process on a free loopback port."""

    def __init__(
        self, data: Path, config: Path | None = None, *extra: str, file_limit: int | tuple[int, int] = 0
    ) -> None:
        """``file_limit``: the open-file limit it starts with (soft and hard, or both the same)."""
        args = [sys.executable, "-m", "lanchat", "serve", "--data", str(data), "--host", "127.0.0.1", "--irc-port", "0"]
        if config is not None:
            args += ["--config", str(config)]
        limits = file_limit if isinstance(file_limit, tuple) else (file_limit, file_limit)

        def limit_files() -> None:
            if file_limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)

        self.proc = subprocess.Popen(
            [*args, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=limit_files,
        )
        self.output: list[str] = []
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = _LISTENING.search(line)
            if match:
                return int(match.group(2))
        self.proc.kill()
        raise RuntimeError(f"server did not start: {self.output} {self.proc.stderr.read() if self.proc.stderr else ''}")

    def wait_for_output(self, needle: str, timeout: float = 30) -> str:
        """Read standard output until a line containing ``needle``; return that line."""
        for line in self.output:
            if needle in line:
                return line
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} in the output: {self.output}")

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal to the server process."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20) -> tuple[int, str, str]:
        """Wait for exit; return (status, rest of stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.output) + out, err

    def stop(self) -> None:
        """Kill the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
