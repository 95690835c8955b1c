"""GET /metrics: Prometheus text with HTTP requests, ingest lag, dead letters and the store head.

Counters the ingest worker updates (claire.ingest.metrics) live in the default registry, so
`claire serve` (API and worker in one process) shows them here. Redis figures are read when
scraped; a Redis outage drops them from the scrape and sets claire_redis_up to 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claire.api.services import Services

HTTP_REQUESTS = Counter(
    "claire_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "claire_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)


class MetricsMiddleware:
    """Counts every request by method, route template (not raw path) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "?")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            if template != "/events/stream":  # a tail lasts as long as the client wants
                HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)


class ServiceCollector(Collector):
    """Figures read from Redis and the store at scrape time."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._redis()
        try:
            head = self.svc.reader.head().sequence_number
        except Exception:  # the store is down: /health says so, the scrape still works
            return
        yield GaugeMetricFamily(
            "claire_store_head_sequence", "Sequence number of the last stored event", head
        )

    def _redis(self) -> Iterator[GaugeMetricFamily]:
        client: Any = self.svc.redis
        if client is None:
            return
        cfg = self.svc.ingest
        try:
            length = int(client.xlen(cfg.stream))
            dead = int(client.xlen(cfg.dead_stream))
            groups = client.xinfo_groups(cfg.stream) if length or client.exists(cfg.stream) else []
        except Exception:
            yield GaugeMetricFamily("claire_redis_up", "1 when Redis answered the scrape", 0)
            return
        yield GaugeMetricFamily("claire_redis_up", "1 when Redis answered the scrape", 1)
        yield GaugeMetricFamily(
            "claire_ingest_stream_length",
            "Entries in the ingest stream (acknowledged entries are trimmed by the worker)",
            length,
        )
        pending = lag = 0
        for group in groups:
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            if name == cfg.group:
                pending = int(group.get("pending") or 0)
                lag = int(group.get("lag") or 0)
        yield GaugeMetricFamily(
            "claire_ingest_pending",
            "Messages delivered to a worker and not yet acknowledged",
            pending,
        )
        yield GaugeMetricFamily(
            "claire_ingest_lag", "Messages in the stream not yet delivered to any worker", lag
        )
        yield GaugeMetricFamily(
            "claire_dead_letters", "Entries in the dead-letter stream, waiting for `retry`", dead
        )


def metrics_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(REGISTRY) + generate_latest(registry)


def service_registry(svc: Services) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(svc))
    return registry
