"""Scenario definitions: sizes, rate ladders, timings, and how one ircload run is judged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.ircload import LoadSpec

#: The latency bound of a passing rate (p99, ms).
P99_BOUND_MS = 100.0
#: A run must send at least this share of the asked rate (else the server pushed back).
SENT_SHARE = 0.97
#: Above this the generator, not the server, may be the limit.
GENERATOR_BUSY_PCT = 90.0


@dataclass(frozen=True, slots=True)
class Timing:
    """ircload's phases for rate runs (seconds)."""

    duration: float
    warmup: float
    settle: float
    drain: float


FULL_TIMING = Timing(duration=5.0, warmup=1.0, settle=1.0, drain=5.0)
QUICK_TIMING = Timing(duration=2.0, warmup=0.5, settle=0.5, drain=3.0)


@dataclass(frozen=True, slots=True)
class RateScenario:
    """A scenario whose result is the highest rate (msg/s) that passes."""

    name: str
    ircload_scenario: str
    clients: int
    description: str
    ladder: tuple[int, ...]
    quick_rate: int
    senders: int | None = None
    channels: int | None = None

    def recipients(self) -> int:
        """Deliveries per message."""
        if self.ircload_scenario == "fanout":
            return self.clients - 1
        if self.ircload_scenario == "rooms":
            return self.clients // (self.channels or max(1, self.clients // 10)) - 1
        return 1

    def spec(self, rate: float, timing: Timing, concurrency: int) -> LoadSpec:
        """The ircload run for one rung."""
        return LoadSpec(
            scenario=self.ircload_scenario,
            clients=self.clients,
            rate=rate,
            senders=self.senders,
            channels=self.channels,
            duration=timing.duration,
            warmup=timing.warmup,
            settle=timing.settle,
            drain=timing.drain,
            concurrency=concurrency,
        )


def _ladder(text: str) -> tuple[int, ...]:
    return tuple(int(word) for word in text.split())


RATE_SCENARIOS: dict[str, RateScenario] = {
    s.name: s
    for s in (
        RateScenario(
            "fanout",
            "fanout",
            500,
            "500 clients in one channel, 5 senders",
            _ladder(
                "250 500 750 1000 1250 1500 1750 2000 2500 3000 3500 4000 5000 6000 7000 8000 9000 10000 12000 14000"
                " 16000 20000"
            ),
            quick_rate=1000,
            senders=5,
        ),
        RateScenario(
            "rooms",
            "rooms",
            1000,
            "1000 clients over 50 channels, all send",
            # Fine at the low end too: on the slowest hosts lanchat's limit lies between 2,000 and
            # 4,000 and ngIRCd's near the 10,000.
            _ladder(
                "500 1000 1500 2000 2500 3000 3500 4000 5000 6000 7000 8000 9000 10000 12000 14000 16000 18000"
                " 20000 24000 28000 32000 36000 40000 45000 50000 60000"
            ),
            quick_rate=1000,  # low: a smoke run checks the harness end to end, not the limit
            channels=50,
        ),
        RateScenario(
            "direct",
            "direct",
            1000,
            "1000 clients, each sends DMs to random others",
            _ladder("1000 2000 3000 4000 5000 6000 8000 10000 12000 14000 16000 20000 24000 28000 32000 40000 50000"),
            quick_rate=2000,
        ),
    )
}

#: Every scenario the driver knows, in the order it runs them.
ALL_SCENARIOS = ("fanout", "rooms", "direct", "connect", "idle", "sasl", "history", "reconnect")


@dataclass(frozen=True, slots=True)
class Sizes:
    """Counts of the non-rate scenarios (full or quick)."""

    connect_clients: int
    idle_clients: int
    idle_hold: float
    sasl_logins: int
    history_messages: int
    history_queries: int
    reconnect_clients: int
    reconnect_account_clients: int


FULL_SIZES = Sizes(
    connect_clients=2000,
    idle_clients=10_000,
    idle_hold=10.0,
    sasl_logins=2000,
    history_messages=1_000_000,
    history_queries=1000,
    reconnect_clients=500,
    reconnect_account_clients=500,
)
QUICK_SIZES = Sizes(
    connect_clients=500,
    idle_clients=2000,
    idle_hold=1.0,
    sasl_logins=40,
    history_messages=50_000,
    history_queries=100,
    reconnect_clients=100,
    reconnect_account_clients=20,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a run passed, why not, and the figures it was judged on."""

    passed: bool
    reason: str
    metrics: dict[str, Any]


def judge_rate(result: dict[str, Any], rate: float, bound_ms: float = P99_BOUND_MS) -> Verdict:
    """Pass = ircload ok, nothing lost, in order, p99 within the bound, the rate really sent."""
    run = result.get("run") or {}
    latency = run.get("latency_ms") or {}
    errors = result.get("errors") or {}
    metrics: dict[str, Any] = {
        "rate": rate,
        "status": result.get("status"),
        "sent_per_s": run.get("sent_per_s"),
        "delivered_per_s": run.get("delivered_per_s"),
        "lost": run.get("lost"),
        "gaps": run.get("gaps"),
        "out_of_order": run.get("out_of_order"),
        "misrouted": run.get("misrouted"),
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "max_ms": latency.get("max"),
        "gen_cpu_pct": run.get("gen_cpu_pct"),
        "server_cpu_pct": run.get("server_cpu_pct"),
        "disconnects": errors.get("disconnects"),
        "first_error": errors.get("first_error") or result.get("stderr"),
    }
    gen = run.get("gen_cpu_pct")
    metrics["generator_busy"] = bool(gen is not None and gen >= GENERATOR_BUSY_PCT)
    if result.get("status") != "ok":
        return Verdict(False, f"status {result.get('status')}: {metrics['first_error'] or ''}".strip(), metrics)
    if run.get("lost"):
        return Verdict(False, f"lost {run['lost']}", metrics)
    for key in ("gaps", "out_of_order", "misrouted"):
        if run.get(key):
            return Verdict(False, f"{key} {run[key]}", metrics)
    p99 = latency.get("p99")
    if p99 is None or p99 > bound_ms:
        return Verdict(False, f"p99 {p99} ms > {bound_ms:g} ms", metrics)
    sent = run.get("sent_per_s") or 0.0
    if sent < SENT_SHARE * rate:
        return Verdict(False, f"sent only {sent:.0f} of {rate:g} msg/s", metrics)
    return Verdict(True, "ok", metrics)


def judge_connect(result: dict[str, Any], clients: int) -> Verdict:
    """Pass = every client registered (and, with SASL, logged in)."""
    conn = result.get("connect") or {}
    errors = result.get("errors") or {}
    server = result.get("server") or {}
    reg = conn.get("reg_latency_ms") or {}
    metrics: dict[str, Any] = {
        "status": result.get("status"),
        "registered": conn.get("registered"),
        "connect_failed": conn.get("connect_failed"),
        "reg_failed": conn.get("reg_failed"),
        "time_s": conn.get("time_s"),
        "reg_per_s": conn.get("conn_per_s"),
        "reg_p50_ms": reg.get("p50"),
        "reg_p99_ms": reg.get("p99"),
        "reg_max_ms": reg.get("max"),
        "sasl_ok": conn.get("sasl_ok"),
        "sasl_fail": conn.get("sasl_fail"),
        "gen_cpu_pct": conn.get("gen_cpu_pct"),
        "server_cpu_pct": conn.get("server_cpu_pct"),
        "kb_per_conn": server.get("kb_per_conn"),
        "rss_before_kb": server.get("rss_before_kb"),
        "rss_hold_kb": server.get("rss_hold_kb"),
        "disconnects": errors.get("disconnects"),
        "error_lines": errors.get("error_lines"),
        "numerics": errors.get("numerics"),
        "first_error": errors.get("first_error") or result.get("stderr"),
    }
    if result.get("status") != "ok":
        return Verdict(False, f"status {result.get('status')}: {metrics['first_error'] or ''}".strip(), metrics)
    if conn.get("registered") != clients:
        return Verdict(False, f"registered {conn.get('registered')} of {clients}", metrics)
    return Verdict(True, "ok", metrics)
