"""Network namespaces for tests that need multicast (mDNS, DNS-SD) in isolation.

A test that announces or browses services either runs where loopback multicast works, or in a
fresh network namespace whose only interface is a loopback with multicast switched on: nothing
it sends reaches the real network, and nothing from outside (another lanchat on the LAN) reaches
it. Creating a namespace needs root and iproute2's ``ip``.

Two ways to use it:

- :func:`isolated` reruns the calling test inside a new namespace (a child pytest); call it
  first and return when it says so::

      def test_announcement(request: pytest.FixtureRequest) -> None:
          if not netns.isolated(request):
              return  # it ran (and passed) in a namespace
          ...  # here multicast stays inside the namespace

  :func:`multicast_here_or_isolated` does the same only when loopback multicast does not work
  in the current namespace.
- :func:`namespace` gives a namespace for child processes (``ns.popen([...])``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

#: Set in the environment of a test rerun inside a namespace: the namespace's name.
ENV = "LANCHAT_TEST_NETNS"
MDNS_GROUP = "224.0.0.251"
RERUN_TIMEOUT = 120.0
_counter = itertools.count(1)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or ``None`` when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "iproute2's ip command is missing"
    return None


def inside() -> bool:
    """True in a test rerun by :func:`isolated` (inside its namespace)."""
    return bool(os.environ.get(ENV))


class NetNamespace:
    """A named network namespace: run commands in it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a command inside to completion (text mode; ``check`` is off unless given)."""
        kwargs.setdefault("check", False)
        return subprocess.run(self.command(argv), text=True, **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        """Start a command inside (text mode)."""
        return subprocess.Popen(self.command(argv), text=True, **kwargs)

    def pids(self) -> set[int]:
        """The processes running inside now (``ip netns exec`` enters before it runs the
        command, under the same process id)."""
        result = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, timeout=10)
        return {int(pid) for pid in result.stdout.split() if pid.isdigit()}


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@contextlib.contextmanager
def namespace(prefix: str = "lanchat-test") -> Iterator[NetNamespace]:
    """A new network namespace with loopback up and multicast on; afterwards whatever still runs
    in it is killed and it is deleted."""
    name = f"{prefix}-{os.getpid()}-{next(_counter)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up", "multicast", "on")
        yield NetNamespace(name)
    finally:
        _kill_inside(name)
        _ip("netns", "delete", name)


def _kill_inside(name: str) -> None:
    """Kill whatever still runs in the namespace (a server a failed test left behind)."""
    for pid in NetNamespace(name).pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def loopback_multicast_works(timeout: float = 0.5) -> bool:
    """True when a datagram sent to the mDNS group over 127.0.0.1 comes back (on a spare port,
    so no real mDNS responder is disturbed)."""
    try:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return False
    with receiver, sender:
        try:
            receiver.bind(("", 0))
            port = receiver.getsockname()[1]
            membership = socket.inet_aton(MDNS_GROUP) + socket.inet_aton("127.0.0.1")
            receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            receiver.settimeout(timeout)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            token = os.urandom(8)
            sender.sendto(token, (MDNS_GROUP, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data, _ = receiver.recvfrom(64)
                if data == token:
                    return True
        except OSError:
            return False
    return False


def run_test_inside(nodeid: str, rootdir: Path, timeout: float = RERUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run one pytest node id in a new namespace; return the finished child pytest."""
    with namespace() as ns:
        env = {**os.environ, ENV: ns.name}
        argv = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", nodeid]
        return ns.run(argv, cwd=rootdir, env=env, capture_output=True, timeout=timeout)


def isolated(request: pytest.FixtureRequest) -> bool:
    """Make the calling test run inside its own network namespace.

    Returns True when it already is inside one: go on with the test. Otherwise reruns it in a
    new namespace and returns False (the caller should return), after failing with the child's
    output if it failed, or skipping as it skipped. Skips when namespaces are unavailable."""
    if inside():
        return True
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"needs a network namespace: {reason}")
    try:
        result = run_test_inside(request.node.nodeid, request.config.rootpath)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out inside network namespace after {exc.timeout} s", pytrace=False)
    output = (result.stdout + result.stderr).strip()
    summary = output.splitlines()[-1] if output else ""
    if result.returncode != 0:
        pytest.fail(f"failed inside network namespace:\n{output[-6000:]}", pytrace=False)
    if "skipped" in summary and "passed" not in summary:
        pytest.skip(f"skipped inside the network namespace: {output[-500:]}")
    return False


def multicast_here_or_isolated(request: pytest.FixtureRequest) -> bool:
    """Like :func:`isolated`, but go on right here when loopback multicast already works."""
    if inside() or loopback_multicast_works():
        return True
    return isolated(request)
