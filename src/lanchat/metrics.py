"""/metrics in the Prometheus text format, read from the live server at each scrape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from lanchat.stats import Histogram

if TYPE_CHECKING:
    from lanchat.app import App


def _histogram(name: str, doc: str, stats: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=stats.cumulative(), sum_value=stats.total)


class LanchatCollector(Collector):
    """Turns the server's counters into metric families."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app = self.app
        irc = app.irc
        transports = Counter(client.link.transport_name for client in irc.clients.values())
        connections = GaugeMetricFamily("lanchat_connections", "Open connections", labels=["transport"])
        for transport in ("tcp", "tls", "websocket", "seed"):
            connections.add_metric([transport], transports.get(transport, 0))
        yield connections
        yield GaugeMetricFamily("lanchat_users", "Registered users online", value=len(irc.state.sessions))
        yield GaugeMetricFamily("lanchat_channels", "Channels", value=len(irc.state.channels))
        yield CounterMetricFamily("lanchat_registrations", "Connections that registered", value=irc.registrations)
        yield CounterMetricFamily("lanchat_logins_failed", "Failed logins", value=app.accounts.failed_logins)
        yield CounterMetricFamily("lanchat_messages_in", "Lines received from clients", value=irc.lines_in)
        yield CounterMetricFamily("lanchat_messages_out", "Lines written to clients", value=irc.outbox.lines_out)
        yield CounterMetricFamily(
            "lanchat_deliveries", "Events delivered, one per recipient user", value=irc.delivery.deliveries
        )
        yield CounterMetricFamily(
            "lanchat_sendq_disconnects", "Clients dropped for falling behind", value=irc.sendq_disconnects
        )
        store = app.store
        yield _histogram("lanchat_history_write_batch_size", "Writes per history commit", store.batch_stats)
        yield _histogram("lanchat_history_write_seconds", "Time to commit a batch", store.commit_stats)
        yield _histogram("lanchat_event_loop_lag_seconds", "Event loop lag, sampled every second", app.loop_lag)


def metrics_registry(app: App) -> CollectorRegistry:
    """A registry holding lanchat's metrics (and nothing process-global)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(LanchatCollector(app))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of a registry."""
    return generate_latest(registry)
