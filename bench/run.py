"""The benchmark driver: ``python -m bench`` (or ``python bench/run.py``).

For every scenario and server it starts a fresh server pinned to the server CPU, runs the load
(ircload, or a Python tool for history and the reconnect storm) pinned to the load CPU,
records the server's peak RSS and CPU seconds, stops the server by its PID and appends one
JSON line per run to ``bench/results/SESSION.jsonl``. Rate scenarios step the rate up until a
run fails (loss, disorder, p99 over the bound, rate not sent); each step-up is repeated
(``--reps``, servers interleaved) and the table shows median [min–max] with ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import accounts, pyspy, report
from bench.history import measure_latency
from bench.ircload import Ircload, LoadSpec, build, source_dir
from bench.probe import FlowProbe
from bench.reconnect import ReconnectStorm, StormOptions, missing_from_history
from bench.results import RESULTS_DIR, ResultLog, latest, load, session_id
from bench.scenarios import (
    ALL_SCENARIOS,
    FULL_SIZES,
    FULL_TIMING,
    P99_BOUND_MS,
    QUICK_SIZES,
    QUICK_TIMING,
    RATE_SCENARIOS,
    RateScenario,
    Timing,
    Verdict,
    judge_connect,
    judge_rate,
)
from bench.servers import SERVER_NAMES, Lanchat, RunningServer, ServerKind, ServerStats, make_servers, remove_tree
from bench.system import (
    PROJECT_ROOT,
    BenchError,
    Pinning,
    busy_seconds,
    cpu_ticks,
    machine_busy_pct,
    machine_info,
    raise_fd_limit,
)

T = TypeVar("T")
#: Rungs skipped per step while looking for the first failure (then filled in).
COARSE_STRIDE = 2
#: Later repetitions start at the rung nearest this share of the previous lowest result.
RESTART_SHARE = 0.5
PROFILE_SECONDS = 10
#: A run during which other processes used more than this share of a pinned CPU is noisy.
NOISY_PCT = 10.0
NOISY_RETRIES = 2
DOCS = PROJECT_ROOT / "docs" / "performance.md"


def use_lanchat_source(workdir: Path, given: Path | None) -> dict[str, str]:
    """Run lanchat from a fixed copy of its source for the whole session.

    A long run must not pick up edits made to the checkout meanwhile: ``src/lanchat`` is
    copied into the session folder (or ``--lanchat-src DIR`` is used as it is) and put first
    on the import path of this process and of every server and loader it starts.
    """
    if given is not None:
        root = given.resolve()
        if not (root / "lanchat" / "__init__.py").is_file():
            raise BenchError(f"--lanchat-src {given}: no lanchat package in it")
    else:
        root = workdir / "lanchat-src"
        shutil.copytree(
            PROJECT_ROOT / "src" / "lanchat", root / "lanchat", ignore=shutil.ignore_patterns("__pycache__")
        )
    if "lanchat" in sys.modules:
        raise BenchError("lanchat was imported before its source was chosen")
    digest = hashlib.sha256()
    for path in sorted((root / "lanchat").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return {"path": str(root), "sha256": digest.hexdigest()[:16]}


def rotate(items: list[T], n: int) -> list[T]:
    """``items`` started at position n (interleaves servers across repetitions)."""
    if not items:
        return items
    n %= len(items)
    return items[n:] + items[:n]


class Driver:
    """One benchmark session."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.reps: int = 1 if self.quick else args.reps
        self.timing: Timing = QUICK_TIMING if self.quick else FULL_TIMING
        if args.duration and not self.quick:
            self.timing = Timing(args.duration, FULL_TIMING.warmup, FULL_TIMING.settle, FULL_TIMING.drain)
        self.sizes = QUICK_SIZES if self.quick else FULL_SIZES
        self.bound: float = args.p99_ms
        self.pinning = Pinning.choose(args.server_cpu, args.load_cpu)
        self.build_dir: Path = args.build_dir
        self.session = session_id(self.quick)
        self.workdir: Path = self.build_dir / "runs" / self.session
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.lanchat_source = use_lanchat_source(self.workdir, args.lanchat_src)
        self.log = ResultLog(args.results or RESULTS_DIR / f"{self.session}.jsonl", self.session)
        overrides = [_parse_override(text) for text in args.lanchat_set]
        ircload = build(source_dir(args.ircload_src), self.build_dir)
        self.ircload = Ircload(ircload, self.pinning)
        self.servers = make_servers(
            args.servers,
            self.pinning,
            install=not args.no_install,
            lanchat_overrides=overrides,
            ircsink=ircload.parent / "ircsink",
        )
        if args.profile:
            pyspy.binary(install=not args.no_install)  # now, not after an hour of measuring
        self.scenarios: list[str] = args.scenarios
        self.run_number = 0
        self.noise: dict[str, Any] = {}
        #: a smoke run is not a measurement: no repeats of noisy runs
        self.retries = 0 if self.quick else NOISY_RETRIES
        self.started = time.monotonic()

    # -- output -----------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A progress line with the elapsed time."""
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed / 60:5.1f} min] {text}", flush=True)

    # -- plumbing ---------------------------------------------------------------------------

    def rundir(self, tag: str, kind: ServerKind) -> Path:
        """A fresh folder for one server run."""
        self.run_number += 1
        path = self.workdir / f"{self.run_number:04d}-{tag}-{kind.name}"
        path.mkdir(parents=True)
        return path

    def finish_rundir(self, path: Path) -> None:
        """Remove a run folder unless asked to keep them."""
        if not self.args.keep:
            remove_tree(path)

    def quiet_gate(self) -> float:
        """Wait (up to --quiet-wait s) until other processes leave the machine nearly idle.

        The machine may be shared: a run beside someone's test suite measures the neighbour.
        Returns the busy share seen last (%, all CPUs)."""
        window = 0.3 if self.quick else 1.0
        busy = machine_busy_pct(window)
        if busy <= self.args.quiet_pct:
            return busy
        self.say(f"machine {busy:.0f} % busy with other processes: waiting for quiet (≤ {self.args.quiet_pct:g} %)")
        deadline = time.monotonic() + self.args.quiet_wait
        while busy > self.args.quiet_pct and time.monotonic() < deadline:
            time.sleep(4.0)
            busy = machine_busy_pct(window)
        self.say(f"machine {busy:.0f} % busy: {'going on' if busy <= self.args.quiet_pct else 'going on anyway'}")
        return busy

    def noisy(self) -> bool:
        """Did other processes take a pinned CPU during the last run?"""
        worst = max(self.noise.get("server_core_foreign_pct", 0.0), self.noise.get("load_core_foreign_pct", 0.0))
        return float(worst) > NOISY_PCT

    def retry_noisy(self, label: str, once: Callable[[], T]) -> T:
        """Run ``once()``; repeat it (at most NOISY_RETRIES times) while runs are noisy."""
        value = once()
        for _ in range(self.retries):
            if not self.noisy():
                break
            self.say(f"{label}: other processes were busy during the run, repeating")
            value = once()
        return value

    def with_server(
        self, kind: ServerKind, rundir: Path, body: Callable[[RunningServer], T], *, data_dir: Path | None = None
    ) -> tuple[T, ServerStats, float]:
        """Start a server, run ``body`` against it, stop it by PID; (result, stats, start time).

        ``self.noise`` then says how busy the machine was before, and how much CPU other
        processes took on the server's core during the run."""
        before_busy = self.quiet_gate()
        ticks = cpu_ticks()
        began = time.monotonic()
        server = kind.start(rundir, data_dir=data_dir)
        try:
            result = body(server)
        finally:
            stats = server.stop()
        self.noise = self.measure_noise(before_busy, ticks, time.monotonic() - began, stats.cpu_s)
        return result, stats, server.ready_s

    def measure_noise(
        self, before_busy: float, ticks: dict[int, tuple[int, int]], wall: float, server_cpu_s: float | None
    ) -> dict[str, Any]:
        """Busy share before the run, and other processes' CPU on the server core during it."""
        noise: dict[str, Any] = {"before_busy_pct": round(before_busy, 1)}
        cpu = self.pinning.server_cpu
        if cpu is not None and server_cpu_s is not None and wall > 0:
            after = cpu_ticks()
            foreign = busy_seconds(ticks, after, cpu) - server_cpu_s
            noise["server_core_foreign_pct"] = round(max(0.0, 100 * foreign / wall), 1)
            if self.pinning.load_cpu is not None:
                noise["load_core_busy_pct"] = round(100 * busy_seconds(ticks, after, self.pinning.load_cpu) / wall, 1)
        return noise

    def measured_servers(self) -> list[ServerKind]:
        """The servers of the scenarios where a reference tells nothing (idle, reconnect)."""
        return [kind for kind in self.servers if not kind.reference]

    def lanchat(self) -> Lanchat | None:
        """The lanchat server kind, when it is measured."""
        for kind in self.servers:
            if isinstance(kind, Lanchat):
                return kind
        return None

    # -- the session ------------------------------------------------------------------------

    def run(self) -> Path:
        """Every selected scenario, then the profile; returns the results file."""
        limit = raise_fd_limit(self.sizes.idle_clients + 1024)
        if limit < self.sizes.idle_clients + 64 and "idle" in self.scenarios:
            raise BenchError(f"the open-file limit is {limit}: idle needs {self.sizes.idle_clients + 64} (ulimit -n)")
        self.pinning.pin_self_to_load()
        versions = {kind.label: kind.version() for kind in self.servers}
        command = ".venv/bin/python -m bench " + shlex.join(sys.argv[1:])
        self.log.write(
            "session",
            machine=machine_info(self.pinning),
            lanchat_source=self.lanchat_source,
            versions=versions,
            command=command.strip(),
            options={k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
            quick=self.quick,
            reps=self.reps,
            timing=dataclasses.asdict(self.timing),
            p99_bound_ms=self.bound,
        )
        self.say(f"session {self.session}: {', '.join(versions.values())}; results in {self.log.path}")
        for name in self.scenarios:
            began = time.monotonic()
            if name in RATE_SCENARIOS:
                self.rate_scenario(RATE_SCENARIOS[name])
            elif name == "connect":
                self.connect_scenario()
            elif name == "idle":
                self.idle_scenario()
            elif name == "sasl":
                self.sasl_scenario()
            elif name == "history":
                self.history_scenario()
            elif name == "reconnect":
                self.reconnect_scenario()
            self.say(f"{name} done in {(time.monotonic() - began) / 60:.1f} min")
        if self.args.profile:
            for name in ("fanout", "rooms"):
                self.profile(RATE_SCENARIOS[name])
        if not self.args.keep:
            remove_tree(self.workdir)
        return self.log.path

    # -- rate scenarios ---------------------------------------------------------------------

    def rate_run(self, sc: RateScenario, kind: ServerKind, rep: int, rate: int) -> Verdict:
        """One server, one rate. A failed run during which other processes took the CPUs is
        repeated (at most NOISY_RETRIES times) after waiting for quiet."""
        for attempt in range(self.retries + 1):
            verdict, noisy = self._rate_run_once(sc, kind, rep, rate, attempt)
            if verdict.passed or not noisy:
                return verdict
            self.say(f"{sc.name:7} {kind.label:8} rep {rep} {rate:6} msg/s: other processes were busy, repeating")
        return verdict

    def ircload_run(
        self, tag: str, kind: ServerKind, spec: LoadSpec
    ) -> tuple[Path, dict[str, Any], ServerStats, float]:
        """A fresh server in a new run folder with one ircload run against it:
        (run folder, ircload's JSON, the server's stats, seconds until it listened)."""
        rundir = self.rundir(tag, kind)
        result, stats, ready = self.with_server(
            kind, rundir, lambda srv: self.ircload.run(spec, srv.port, srv.pid, rundir / "ircload.log")
        )
        return rundir, result, stats, ready

    def _rate_run_once(
        self, sc: RateScenario, kind: ServerKind, rep: int, rate: int, attempt: int
    ) -> tuple[Verdict, bool]:
        spec = sc.spec(rate, self.timing, kind.concurrency)
        rundir, result, stats, ready = self.ircload_run(f"{sc.name}-{rate}", kind, spec)
        verdict = judge_rate(result, rate, self.bound)
        gen_cpu = (result.get("gen") or {}).get("cpu_s")
        wall = (result.get("gen") or {}).get("wall_s")
        if gen_cpu is not None and wall and "load_core_busy_pct" in self.noise:
            # the load core runs ircload (and this driver, idle meanwhile): the rest is foreign
            foreign = self.noise["load_core_busy_pct"] - 100 * gen_cpu / wall
            self.noise["load_core_foreign_pct"] = round(max(0.0, foreign), 1)
        noisy = self.noisy()
        m = verdict.metrics
        self.record_run(
            rundir,
            verdict,
            stats,
            ready,
            result,
            {"scenario": sc.name, "server": kind.name, "rep": rep, "rate": rate, "attempt": attempt},
            f"{sc.name:7} {kind.label:8} rep {rep} {rate:6} msg/s",
            f"p99 {m.get('p99_ms')} ms, lost {m.get('lost')}, server cpu {m.get('server_cpu_pct')} %",
        )
        return verdict, noisy

    def record_run(
        self,
        rundir: Path,
        verdict: Verdict,
        stats: ServerStats,
        ready: float,
        result: dict[str, Any],
        fields: dict[str, Any],
        label: str,
        figures: str,
    ) -> None:
        """Append one run's JSON line, print its summary, tidy its folder."""
        self.log.write(
            "run",
            **fields,
            passed=verdict.passed,
            reason=verdict.reason,
            metrics=verdict.metrics,
            server_stats=stats.as_dict(),
            server_ready_s=round(ready, 3),
            noise=self.noise,
            load=result,
        )
        self.say(
            f"{label}: {'pass' if verdict.passed else 'FAIL'}  {figures}, peak rss {stats.peak_rss_kb} kB"
            + ("" if verdict.passed else f"  ({verdict.reason})")
        )
        self.finish_rundir(rundir)

    def step_up(self, sc: RateScenario, kind: ServerKind, rep: int, start: int) -> tuple[int | None, list[Any]]:
        """Highest passing rung: coarse steps up to the first failure, then the rungs between."""
        ladder = sc.ladder
        trials: list[Any] = []
        verdicts: dict[int, Verdict] = {}

        def trial(i: int) -> bool:
            verdict = self.rate_run(sc, kind, rep, ladder[i])
            verdicts[i] = verdict
            trials.append([ladder[i], verdict.passed, verdict.reason, verdict.metrics.get("p99_ms")])
            return verdict.passed

        best: int | None = None
        failed: int | None = None
        i = start
        while i < len(ladder):
            if trial(i):
                best = i
                i += COARSE_STRIDE
            else:
                failed = i
                break
        if failed is None:
            assert best is not None
            for j in range(best + 1, len(ladder)):
                if not trial(j):
                    break
                best = j
        elif best is None:
            for j in range(failed - 1, -1, -1):
                if trial(j):
                    best = j
                    break
        else:
            for j in range(best + 1, failed):
                if not trial(j):
                    break
                best = j
        if best is None:
            return None, trials
        return ladder[best], trials

    def rate_scenario(self, sc: RateScenario) -> None:
        """Step-ups (or, quick, one rate) for every server, repeated and interleaved."""
        found: dict[str, list[int]] = {}
        for rep in range(1, self.reps + 1):
            for kind in rotate(self.servers, rep - 1):
                if self.quick:
                    verdict = self.rate_run(sc, kind, rep, sc.quick_rate)
                    value: int | None = sc.quick_rate if verdict.passed else None
                    trials: list[Any] = [[sc.quick_rate, verdict.passed, verdict.reason]]
                else:
                    previous = found.get(kind.name)
                    start = 0
                    if previous:
                        floor = RESTART_SHARE * min(previous)
                        start = max([i for i, r in enumerate(sc.ladder) if r <= floor], default=0)
                    value, trials = self.step_up(sc, kind, rep, start)
                    if value is not None:
                        found.setdefault(kind.name, []).append(value)
                top = value is not None and value == sc.ladder[-1]
                self.log.headline(
                    sc.name,
                    "msg_per_s",
                    kind.name,
                    rep,
                    value,
                    deliveries_per_s=None if value is None else value * sc.recipients(),
                    trials=trials,
                    ladder_top=top,
                    smoke=self.quick,
                )
                self.say(f"{sc.name:7} {kind.label:8} rep {rep}: highest passing rate {value} msg/s")

    # -- connect and idle -------------------------------------------------------------------

    def connect_run(self, tag: str, kind: ServerKind, rep: int, spec: LoadSpec) -> Verdict:
        """One ircload connect run."""
        rundir, result, stats, ready = self.ircload_run(tag, kind, spec)
        verdict = judge_connect(result, spec.clients)
        m = verdict.metrics
        self.record_run(
            rundir,
            verdict,
            stats,
            ready,
            result,
            {"scenario": tag, "server": kind.name, "rep": rep, "clients": spec.clients},
            f"{tag:7} {kind.label:8} rep {rep} {spec.clients} clients",
            f"{m.get('reg_per_s')} reg/s, p99 {m.get('reg_p99_ms')} ms, {m.get('kb_per_conn')} kB/conn",
        )
        return verdict

    def connect_scenario(self) -> None:
        """Registrations per second, guests, each server's best -P."""
        n = self.sizes.connect_clients
        for rep in range(1, self.reps + 1):
            for kind in rotate(self.servers, rep - 1):
                spec = LoadSpec("connect", n, hold=1.0, concurrency=kind.concurrency, reg_timeout=120)
                verdict = self.retry_noisy(
                    f"connect {kind.label} rep {rep}",
                    functools.partial(self.connect_run, "connect", kind, rep, spec),
                )
                value = verdict.metrics.get("reg_per_s") if verdict.passed else None
                self.log.headline(
                    "connect",
                    "reg_per_s",
                    kind.name,
                    rep,
                    value,
                    clients=n,
                    reg_p99_ms=verdict.metrics.get("reg_p99_ms"),
                )

    def idle_scenario(self) -> None:
        """Server RSS per idle registered connection."""
        n = self.sizes.idle_clients
        for rep in range(1, self.reps + 1):
            for kind in rotate(self.measured_servers(), rep - 1):
                spec = LoadSpec("connect", n, hold=self.sizes.idle_hold, concurrency=kind.concurrency, reg_timeout=300)
                verdict = self.retry_noisy(
                    f"idle {kind.label} rep {rep}",
                    functools.partial(self.connect_run, "idle", kind, rep, spec),
                )
                value = verdict.metrics.get("kb_per_conn") if verdict.passed else None
                self.log.headline("idle", "kb_per_conn", kind.name, rep, value, clients=n)

    # -- SASL storm (lanchat) ---------------------------------------------------------------

    def sasl_scenario(self) -> None:
        """2000 SASL logins at once, with a message-flow probe running beside them."""
        kind = self.lanchat()
        if kind is None:
            return
        n = self.sizes.sasl_logins
        template = accounts.template(kind, max(n, self.sizes.reconnect_account_clients), self.build_dir)
        for rep in range(1, self.reps + 1):
            values = self.retry_noisy(f"sasl rep {rep}", functools.partial(self._sasl_once, kind, template, n, rep))
            for metric, value in values.items():
                self.log.headline("sasl", metric, kind.name, rep, value, clients=n)

    def _sasl_once(self, kind: Lanchat, template: Path, n: int, rep: int) -> dict[str, Any]:
        """One storm; returns the headline values."""
        rundir = self.rundir("sasl", kind)
        data = rundir / "data"
        accounts.install(template, data)
        spec = LoadSpec(
            "connect",
            n,
            hold=1.0,
            concurrency=0,
            reg_timeout=900,
            sasl=True,
            sasl_pass=accounts.PASSWORD,
            nick=accounts.NAME_PATTERN,
            sasl_user=accounts.NAME_PATTERN,
        )

        def body(srv: RunningServer) -> tuple[dict[str, Any], Any]:
            return asyncio.run(self._sasl_storm(srv, spec, rundir / "ircload.log"))

        (result, probe), stats, ready = self.with_server(kind, rundir, body, data_dir=data)
        verdict = judge_connect(result, n)
        m = verdict.metrics
        seconds = m.get("time_s") or 0
        logins = m.get("sasl_ok") or 0
        rate = round(logins / seconds, 1) if seconds else None
        probe_ok = probe.get("lost") == 0 and probe["latency_ms"]["p99"] <= self.bound
        self.log.write(
            "run",
            scenario="sasl",
            server=kind.name,
            rep=rep,
            clients=n,
            passed=verdict.passed and logins == n and probe_ok,
            reason=verdict.reason if not verdict.passed else ("ok" if probe_ok else "probe: loss or p99"),
            metrics={**m, "logins_per_s": rate},
            probe=probe,
            server_stats=stats.as_dict(),
            server_ready_s=round(ready, 3),
            noise=self.noise,
            load=result,
        )
        self.say(
            f"sasl    {kind.label:8} rep {rep}: {logins} of {n} logged in in {seconds} s ({rate}/s),"
            f" reg p99 {m.get('reg_p99_ms')} ms; probe p99 {probe['latency_ms']['p99']} ms,"
            f" max {probe['latency_ms']['max']} ms, lost {probe.get('lost')}; {verdict.reason}"
        )
        self.finish_rundir(rundir)
        return {
            "logins_per_s": rate if logins else None,
            "logins_ok": logins,
            "probe_p99_ms": probe["latency_ms"]["p99"],
            "probe_lost": probe.get("lost"),
        }

    async def _sasl_storm(self, srv: RunningServer, spec: LoadSpec, log: Path) -> tuple[dict[str, Any], Any]:
        probe = FlowProbe(srv.port)
        await probe.open()
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe.run(stop, max_seconds=spec.time_budget()))
        await asyncio.sleep(1.0)  # the probe's quiet baseline
        started = time.monotonic()
        proc = self.ircload.start(spec, srv.port, srv.pid, log)
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.wait, spec.time_budget())
        finally:
            stop.set()
            result = self.ircload.finish(proc, spec, log, started)
            probe_result = await probe_task
            await probe.close()
        return result, probe_result

    # -- history (lanchat) ------------------------------------------------------------------

    def history_scenario(self) -> None:
        """Messages stored per second through lanchat's store, then CHATHISTORY latency."""
        kind = self.lanchat()
        if kind is None:
            return
        count = self.sizes.history_messages
        for rep in range(1, self.reps + 1):
            values = self.retry_noisy(f"history rep {rep}", functools.partial(self._history_once, kind, count, rep))
            for metric, value in values.items():
                self.log.headline("history", metric, kind.name, rep, value, messages=count)

    def _history_once(self, kind: Lanchat, count: int, rep: int) -> dict[str, Any]:
        """Load ``count`` messages, then time CHATHISTORY; returns the headline values."""
        rundir = self.rundir("history", kind)
        data = rundir / "data"
        out = rundir / "load.json"
        argv = [
            *self.pinning.server_prefix(),
            sys.executable,
            "-m",
            "bench.history",
            "load",
            *("--data", str(data), "--count", str(count), "--seed", str(rep), "--out", str(out)),
        ]
        before_busy = self.quiet_gate()
        ticks = cpu_ticks()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(PROJECT_ROOT), os.environ["PYTHONPATH"]))}
        done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, timeout=3600, check=False, capture_output=True)
        if done.returncode != 0:
            raise BenchError(f"history load failed: {done.stderr.decode(errors='replace')[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        loader_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        load_noise = self.measure_noise(before_busy, ticks, time.monotonic() - began, loader_cpu)
        loaded: dict[str, Any] = json.loads(out.read_text())
        sample: list[str] = loaded.pop("sample")

        def body(srv: RunningServer) -> dict[str, Any]:
            return asyncio.run(measure_latency(srv.port, sample, self.sizes.history_queries, 50, rep))

        latency, stats, ready = self.with_server(kind, rundir, body, data_dir=data)
        if load_noise.get("server_core_foreign_pct", 0.0) > self.noise.get("server_core_foreign_pct", 0.0):
            self.noise["server_core_foreign_pct"] = load_noise["server_core_foreign_pct"]
        latest_p99 = latency["latest_ms"]["p99"]
        before_p99 = latency["before_ms"]["p99"]
        self.log.write(
            "run",
            scenario="history",
            server=kind.name,
            rep=rep,
            passed=loaded["stored_per_s"] >= 20000 and max(latest_p99, before_p99) <= 5.0,
            store=loaded,
            latency=latency,
            noise=self.noise,
            load_noise=load_noise,
            server_stats=stats.as_dict(),
            server_ready_s=round(ready, 3),
        )
        self.say(
            f"history {kind.label:8} rep {rep}: {loaded['stored_per_s']:.0f} msg/s stored"
            f" (mean batch {loaded['mean_batch']}); LATEST p99 {latest_p99} ms, BEFORE p99 {before_p99} ms"
            f" at {count} messages; server start {ready:.2f} s, peak rss {stats.peak_rss_kb} kB"
        )
        self.finish_rundir(rundir)
        return {"stored_per_s": loaded["stored_per_s"], "latest_p99_ms": latest_p99, "before_p99_ms": before_p99}

    # -- reconnect storm --------------------------------------------------------------------

    def reconnect_scenario(self) -> None:
        """Kill the server under N clients and start it again; time until all are back."""
        lanchat = self.lanchat()
        template: Path | None = None
        if lanchat is not None:
            need = max(self.sizes.sasl_logins, self.sizes.reconnect_account_clients)
            template = accounts.template(lanchat, need, self.build_dir)
        for rep in range(1, self.reps + 1):
            for kind in rotate(self.measured_servers(), rep - 1):
                modes: list[Path | None] = [None]
                if isinstance(kind, Lanchat) and template is not None:
                    modes.append(template)
                for mode in modes:
                    label = f"reconnect {'accounts' if mode else 'guests'} {kind.label} rep {rep}"
                    values = self.retry_noisy(label, functools.partial(self.storm, kind, rep, mode))
                    for metric, value, extra in values:
                        self.log.headline("reconnect", metric, kind.name, rep, value, **extra)

    def storm(self, kind: ServerKind, rep: int, template: Path | None) -> list[tuple[str, Any, dict[str, Any]]]:
        """One reconnect storm (guests, or accounts from the template)."""
        mode = "accounts" if template is not None else "guests"
        rundir = self.rundir(f"reconnect-{mode}", kind)
        data = rundir / "data"
        if template is not None:
            accounts.install(template, data)
        clients = self.sizes.reconnect_account_clients if template is not None else self.sizes.reconnect_clients
        options = StormOptions(
            clients=clients,
            channels=max(1, min(50, clients // 10)),
            accounts=template is not None,
            ircv3=kind.ircv3,
            password=accounts.PASSWORD,
            deadline_s=120.0 if template is not None else 60.0,
            setup_concurrency=4 if template is not None else 50,
            traffic_s=1.0 if self.quick else 3.0,
        )
        old_stats: list[ServerStats] = []
        before_busy = self.quiet_gate()
        ticks = cpu_ticks()
        began = time.monotonic()
        holder: dict[str, RunningServer] = {"server": kind.start(rundir, data_dir=data)}

        async def restart(sig: signal.Signals) -> float:
            began = time.monotonic()
            old = holder["server"]
            old_stats.append(await asyncio.to_thread(old.stop, sig))
            holder["server"] = await asyncio.to_thread(kind.start, rundir, port=old.port, data_dir=data)
            return time.monotonic() - began

        try:
            storm = ReconnectStorm(holder["server"].port, options)
            result = asyncio.run(storm.run(restart))
        finally:
            stats = holder["server"].stop()
        cpu_s = sum(s.cpu_s or 0.0 for s in [*old_stats, stats])
        self.noise = self.measure_noise(before_busy, ticks, time.monotonic() - began, cpu_s)
        missing: int | None = None
        if kind.ircv3 and (data / "lanchat.db").is_file():
            missing = missing_from_history(data / "lanchat.db", storm.acked_msgids())
        result["missing_acked"] = missing
        passed = result.get("status") == "ok" and (result.get("back_all_s") or 1e9) <= 10.0 and not missing
        self.log.write(
            "run",
            scenario=f"reconnect-{mode}",
            server=kind.name,
            rep=rep,
            passed=passed,
            storm=result,
            noise=self.noise,
            server_stats_before_kill=old_stats[0].as_dict() if old_stats else None,
            server_stats=stats.as_dict(),
        )
        extra = {k: result.get(k) for k in ("clients", "ready_s", "not_back", "acked", "status")}
        headlines: list[tuple[str, Any, dict[str, Any]]] = [(f"{mode}_back_s", result.get("back_all_s"), extra)]
        if missing is not None:
            headlines.append(("missing_acked", missing, {"mode": mode, "acked": result.get("acked")}))
        self.say(
            f"reconnect {mode:8} {kind.label:8} rep {rep}: {result.get('status')}, all back in"
            f" {result.get('back_all_s')} s (server listening after {result.get('ready_s')} s;"
            f" p50 {result.get('back_s', {}).get('p50')} s), acked {result.get('acked')}, missing {missing}"
            + (f"; {result.get('first_error')}" if result.get("first_error") else "")
        )
        self.finish_rundir(rundir)
        return headlines

    # -- profile ----------------------------------------------------------------------------

    def profile(self, sc: RateScenario) -> None:
        """py-spy on lanchat at its limit (the session's median, else --profile-rate)."""
        kind = self.lanchat()
        if kind is None:
            return
        records = load(self.log.path)
        values = sorted(
            r["value"]
            for r in records
            if r.get("kind") == "headline"
            and r.get("scenario") == sc.name
            and r.get("server") == "lanchat"
            and r.get("value")
        )
        rate = values[len(values) // 2] if values else (6000 if sc.name == "fanout" else 10000)
        seconds = 3 if self.quick else PROFILE_SECONDS
        timing = Timing(duration=seconds + 4, warmup=1.0, settle=1.0, drain=5.0)
        spec = sc.spec(rate, timing, kind.concurrency)
        rundir = self.rundir(f"profile-{sc.name}", kind)
        log = rundir / "ircload.log"
        collapsed = rundir / "pyspy.txt"

        def body(srv: RunningServer) -> tuple[dict[str, Any], str]:
            started = time.monotonic()
            proc = self.ircload.start(spec, srv.port, srv.pid, log)
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and proc.poll() is None and "load:" not in log.read_text():
                    time.sleep(0.1)
                time.sleep(timing.warmup + 0.5)
                done = pyspy.record(srv.pid, seconds, collapsed, self.pinning)
            finally:
                result = self.ircload.finish(proc, spec, log, started)
            return result, done.stderr[-500:]

        (result, spy_err), stats, _ = self.with_server(kind, rundir, body)
        verdict = judge_rate(result, rate, self.bound)
        if not collapsed.is_file():
            raise BenchError(f"py-spy wrote no profile: {spy_err}")
        summary = pyspy.summarize(collapsed, seconds)
        keep = self.log.path.parent / "profiles" / f"{self.session}-{sc.name}.txt"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(collapsed, keep)
        self.log.write(
            "profile",
            scenario=sc.name,
            server=kind.name,
            rate=rate,
            passed=verdict.passed,
            reason=verdict.reason,
            metrics=verdict.metrics,
            server_stats=stats.as_dict(),
            noise=self.noise,
            collapsed_stacks=str(keep.relative_to(PROJECT_ROOT) if keep.is_relative_to(PROJECT_ROOT) else keep),
            profile=summary,
        )
        self.say(f"profile {sc.name} at {rate} msg/s ({verdict.reason}), % of wall time per thread:")
        for thread, info in summary["threads"].items():
            self.say(f"  {thread}: busy {info['busy_pct']} %")
            for name, pct in info["own_pct"][:10]:
                self.say(f"    own {pct:5.1f} %  {name}")
        self.finish_rundir(rundir)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM: unwind like Ctrl-C, so every server and generator started is stopped."""
    raise KeyboardInterrupt


def _parse_override(text: str) -> tuple[str, str, str]:
    key, sep, value = text.partition("=")
    section, dot, name = key.partition(".")
    if not sep or not dot or not section or not name:
        raise BenchError(f"--lanchat-set wants SECTION.KEY=VALUE (TOML value), not {text!r}")
    return section.strip(), name.strip(), value.strip()


def _csv(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The driver's options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark lanchat against ngIRCd and InspIRCd on loopback (see bench/README.md).",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one rate, one repetition, small sizes")
    parser.add_argument(
        "--scenarios",
        type=_csv(ALL_SCENARIOS),
        default=list(ALL_SCENARIOS),
        help=f"comma-separated, in order (default all: {','.join(ALL_SCENARIOS)})",
    )
    parser.add_argument(
        "--servers",
        type=_csv(SERVER_NAMES),
        default=list(SERVER_NAMES),
        help=f"comma-separated (default {','.join(SERVER_NAMES)}; the references, pyrelay (the bare"
        " Python relay) and ircsink (the generator's ceiling), run only in the rate and connect scenarios)",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each headline point (default 3)")
    parser.add_argument("--duration", type=float, default=0, help="measured seconds per rate run (default 5)")
    parser.add_argument("--p99-ms", type=float, default=P99_BOUND_MS, help="latency bound of a passing rate")
    parser.add_argument("--profile", action="store_true", help="py-spy lanchat at its limit in fanout and rooms")
    parser.add_argument(
        "--ircload-src",
        metavar="DIR",
        help="folder with ircload.c (default $LANCHAT_BENCH_IRCLOAD_SRC, else ../shared/bench)",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=Path(os.environ.get("LANCHAT_BENCH_BUILD", Path(tempfile.gettempdir()) / "lanchat-bench")),
        metavar="DIR",
        help="where ircload is built and servers run (default $LANCHAT_BENCH_BUILD, else /tmp/lanchat-bench)",
    )
    parser.add_argument(
        "--lanchat-src",
        type=Path,
        metavar="DIR",
        help="run lanchat from DIR/lanchat (default: a copy of src/lanchat taken at the start)",
    )
    parser.add_argument("--results", type=Path, metavar="FILE", help="JSON-lines file (default bench/results/…)")
    parser.add_argument("--server-cpu", type=int, help="CPU for the server under test (default 1)")
    parser.add_argument("--load-cpu", type=int, help="CPU for the load generators (default 0)")
    parser.add_argument("--no-install", action="store_true", help="do not install missing peers or py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (configs, logs, data)")
    parser.add_argument(
        "--lanchat-set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a lanchat setting (TOML value), e.g. accounts.argon2_time_cost=2",
    )
    parser.add_argument(
        "--quiet-pct",
        type=float,
        default=10.0,
        metavar="PCT",
        help="before each run, wait until the machine is at most this busy (default 10 %%)",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=900.0, metavar="S", help="wait at most this long for quiet (default 900)"
    )
    parser.add_argument("--update-docs", action="store_true", help="write the table into docs/performance.md")
    parser.add_argument(
        "--report",
        nargs="?",
        const="latest",
        metavar="FILE",
        help="print the table of a results file (default the newest) and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        if args.report is not None:
            path = latest() if args.report == "latest" else Path(args.report)
            if path is None:
                raise BenchError("no results yet")
            records = load(path)
            print(report.table(records))
            print()
            print(report.deliveries_note(records))
            if args.update_docs:
                print("docs updated" if report.update_docs(DOCS, records) else "no bench blocks in docs")
            return 0
        if args.reps < 1 or args.reps > 20:
            raise BenchError("--reps must be 1..20")
        signal.signal(signal.SIGTERM, _interrupt)
        driver = Driver(args)
        try:
            path = driver.run()
        finally:
            if not args.keep:
                remove_tree(driver.workdir)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted (the servers and generators this run started were stopped)", file=sys.stderr)
        return 130
    records = load(path)
    print()
    print(report.table(records))
    print()
    print(report.deliveries_note(records))
    print(f"\nresults: {path}")
    if args.update_docs and report.update_docs(DOCS, records):
        print(f"table written into {DOCS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
