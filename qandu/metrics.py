"""Operational metrics in the Prometheus text format, for ``GET /metrics``.

These live in the core, not in the analytics plugin: they describe the server itself
(connections, message rate and latency, plugin failures, storage batches), an operator
needs them with every plugin disabled, and they cost nothing to keep: two instruments are
updated on the message path (a counter and a latency histogram, about a microsecond each),
everything else is read from the components' ``statistics()`` when Prometheus scrapes.
Business figures (volumes, response times, CSAT) are the analytics plugin's JSON API.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (no process-wide state).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from qandu.app import App
    from qandu.gateway.server import Gateway

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Buckets of the message latency histogram, in seconds (1 ms to 2.5 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The instruments updated while the server runs, and the exposition of everything."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "qandu_messages",
            "Messages stored, by sender type (user, agent, ai, system).",
            ["sender"],
            registry=self.registry,
        )
        self.message_latency = Histogram(
            "qandu_message_send_seconds",
            "Time to accept a sent message: checks, incoming hooks, durable commit and fan-out.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children = {kind: self.messages.labels(kind) for kind in ("user", "agent", "ai", "system")}
        self._collector: _StatisticsCollector | None = None

    def message_stored(self, sender_type: str) -> None:
        child = self._children.get(sender_type)
        (child or self.messages.labels(sender_type)).inc()

    def attach(self, app: App, gateway: Gateway | None) -> None:
        """Expose the statistics of ``app``'s components (once; the HTTP server calls it)."""
        if self._collector is None:
            self._collector = _StatisticsCollector(app, gateway)
            self.registry.register(self._collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


class _StatisticsCollector(Collector):
    """Reads ``statistics()`` of the gateway, bus, pipeline, plugins and store at scrape time."""

    def __init__(self, app: App, gateway: Gateway | None) -> None:
        self.app = app
        self.gateway = gateway

    def collect(self) -> Iterator[Any]:
        app = self.app
        if self.gateway is not None:
            gw = self.gateway.statistics()
            yield _gauge("qandu_gateway_connections", "Open WebSocket connections.", gw.connections)
            yield _counter("qandu_gateway_accepted", "WebSocket connections accepted.", gw.accepted)
            yield _counter("qandu_gateway_rejected", "WebSocket handshakes refused.", gw.rejected)
            yield _counter("qandu_gateway_errors", "Connections that ended with an error.", gw.errors)
            yield _counter(
                "qandu_gateway_slow_consumers",
                "Connections closed for not reading (4008).",
                gw.slow_consumers,
            )
        bus = app.bus.statistics()
        yield _counter("qandu_bus_published", "Frames published on the fan-out bus.", bus.published)
        yield _counter("qandu_bus_delivered", "Frames handed to subscribers.", bus.delivered)
        yield _gauge("qandu_bus_subscriptions", "Topic subscriptions.", bus.subscriptions)
        if bus.connected is not None:  # the Redis backend
            yield _gauge("qandu_bus_redis_connected", "1 while the link to Redis is up.", int(bus.connected))
            yield _counter("qandu_bus_relayed_out", "Publications sent to other nodes.", bus.relayed_out)
            yield _counter("qandu_bus_relayed_in", "Publications received from other nodes.", bus.relayed_in)
            yield _counter(
                "qandu_bus_dropped", "Publications not relayed (outbox full, Redis away).", bus.dropped
            )
        dispatcher = app.chat.dispatcher
        if dispatcher is not None:
            pipeline = dispatcher.statistics()
            yield _gauge(
                "qandu_pipeline_queued", "Messages waiting for the post-store pipeline.", pipeline.queued
            )
            yield _counter(
                "qandu_pipeline_handled", "Messages through the post-store pipeline.", pipeline.handled
            )
        plugins = app.pm.statistics()
        yield _counter("qandu_plugin_calls", "Plugin hook implementations called.", plugins.calls)
        failures = CounterMetricFamily(
            "qandu_plugin_failures",
            "Hook implementations that raised or timed out.",
            labels=["plugin", "kind"],
        )
        for plugin, count in sorted(plugins.failures.items()):
            failures.add_metric([plugin, "error"], count)
        for plugin, count in sorted(plugins.timeouts.items()):
            failures.add_metric([plugin, "timeout"], count)
        yield failures
        lanes = app.store.statistics()
        yield _counter("qandu_store_batches", "Group commits of the writer thread.", lanes.batches)
        yield _counter("qandu_store_jobs", "Write jobs committed (or failed) in those batches.", lanes.jobs)
        yield _gauge(
            "qandu_store_largest_batch", "Largest group commit so far, in jobs.", lanes.largest_batch
        )
        yield _counter(
            "qandu_store_replays", "Batches replayed job by job after a failed job.", lanes.replays
        )
        teamwork = app.chat.teamwork
        yield _counter("qandu_followups_fired", "Follow-ups fired by this node.", teamwork.followups.fired)
        yield _counter(
            "qandu_conversations_archived",
            "Conversations auto-archived by this node.",
            teamwork.archiver.archived,
        )
