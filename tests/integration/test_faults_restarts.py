"""Real restarts while the ingest worker runs and producers publish: PostgreSQL restarted
(`pg_ctl restart -m fast`) and Redis restarted (stopped, then started on the same port and
AOF directory). Every acknowledged event must end up stored exactly once, gapless, verified.

The restarted server is always a private one (tests/servers.py): the machine's shared servers
serve other tests at the same moment. The other side of each test uses the shared server.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
import pytest

from claire.store import open_store
from tests.integration.test_faults_ingest import (
    ROOT,
    Producer,
    Rig,
    assert_exactly_once,
    stored_count,
    wait_for,
)
from tests.servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerUnavailableError,
    private_postgres,
    private_redis,
    require_or_skip,
)

# The store waits up to 10 s for a pooled connection (then retries a few times) before it
# reports PostgreSQL unavailable; an outage longer than that reaches the worker's own recovery.
LONG_OUTAGE_S = 12.0
PUBLISH_ERROR = r"could not publish to Redis stream .* \(publishing again is safe\)"


T = TypeVar("T")


def _started(context: AbstractContextManager[T]) -> Iterator[T]:
    """Enter a private server's context; skip (or fail, when services are required) if it
    cannot start."""
    try:
        server = context.__enter__()
    except ServerUnavailableError as exc:
        require_or_skip(exc)
        raise
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    # Per test: initdb + start take about a second here, cheaper than sharing a cluster that
    # an earlier test left mid-restart.
    yield from _started(private_postgres())


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    yield from _started(private_redis())


def make_rig(pg_url: str, redis_url: str, stream: str, batch: int = 40) -> Rig:
    """A migrated store and the environment a worker subprocess reads its settings from."""
    with open_store(pg_url, create=True) as store:
        store.migrate()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "CLAIRE_INGEST_STREAM": stream,
        "CLAIRE_PUBSUB_CHANNEL": "",
        "CLAIRE_INGEST_BATCH": str(batch),
        "CLAIRE_CLAIM_IDLE_MS": "300",
    }
    return Rig(pg_url, redis_url, stream, env)


def postmaster_started(url: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def restart_postgres_rounds(
    rig: Rig, server: PrivatePostgres, restarts: int, rng: random.Random, long_every: int = 2
) -> int:
    """Restart the cluster `restarts` times, each while the worker is storing.

    Every `long_every`-th restart keeps the cluster down for LONG_OUTAGE_S: longer than the
    store's own waiting and retrying, so the worker itself must back off, drop the store and
    open it again. Returns how many outages were long."""
    long_outages = 0
    for n in range(restarts):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="the worker to store")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.15))  # somewhere in a read, an append or an ack
        started = postmaster_started(rig.pg_url)
        if (n + 1) % long_every == 0:
            server.stop("fast")
            time.sleep(LONG_OUTAGE_S)
            server.start()
            long_outages += 1
        else:
            server.restart()
        assert postmaster_started(rig.pg_url) > started, "the cluster did not restart"
    return long_outages


def restart_redis_rounds(
    rig: Rig,
    server: PrivateRedis,
    producers: list[Producer],
    restarts: int,
    rng: random.Random,
) -> int:
    """Restart Redis `restarts` times while producers publish; every other round with the
    worker frozen (SIGSTOP) first, so acknowledged events are waiting in Redis alone when it
    goes down. Odd rounds crash Redis (SIGKILL) instead of shutting it down: with
    `appendfsync always` an acknowledged XADD is on disk either way.

    Returns the largest backlog (acknowledged, not yet stored) Redis held at a restart."""
    worker = rig.workers[-1]
    largest_backlog = 0
    for n in range(restarts):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="the worker to store")  # noqa: B023
        frozen = n % 2 == 0
        if frozen:
            worker.send_signal(signal.SIGSTOP)
        time.sleep(rng.uniform(0.05, 0.2))
        backlog = sum(len(p.acknowledged) for p in producers) - stored_count(rig.pg_url)
        largest_backlog = max(largest_backlog, backlog)
        errors_before = [len(p.errors) for p in producers]
        server.stop(signal.SIGKILL if n % 2 else signal.SIGTERM)
        # Down until every producer has been told so (they retry meanwhile).
        wait_for(
            lambda: all(len(p.errors) > e for p, e in zip(producers, errors_before, strict=True)),  # noqa: B023
            timeout=20,
            what="every producer to see Redis down",
        )
        server.start()
        if frozen:
            worker.send_signal(signal.SIGCONT)
        assert worker.poll() is None, "the worker died instead of reconnecting"
    return largest_backlog


def stop_producers(producers: list[Producer]) -> list[str]:
    for producer in producers:
        producer.finish.set()
        producer.join(timeout=120)
        assert not producer.is_alive()
    return [i for p in producers for i in p.acknowledged]


def test_postgres_restarted_while_the_worker_runs(
    own_postgres: PrivatePostgres, redis_base_url: str, redis_prefix: str
) -> None:
    rig = make_rig(own_postgres.create_database("claire"), redis_base_url, f"{redis_prefix}events")
    producers = [Producer(rig.redis_url, rig.stream, f"producer-{n}", 10_000) for n in range(2)]
    try:
        worker = rig.start_worker("survivor")
        for producer in producers:
            producer.start()
        long_outages = restart_postgres_rounds(
            rig, own_postgres, restarts=2, rng=random.Random(20250214)
        )
        assert long_outages == 1
        # Still the same process: it reconnected by itself, and keeps storing afterwards.
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="storing after the restarts")
        assert worker.poll() is None, "the worker died instead of reconnecting"
        published = stop_producers(producers)
        assert_exactly_once(rig, published)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        for producer in producers:
            producer.finish.set()
        rig.stop_all()


def test_redis_restarted_while_producers_publish_and_the_worker_runs(
    pg_url: str, own_redis: PrivateRedis
) -> None:
    rig = make_rig(pg_url, own_redis.url, "claire:events")
    producers = [Producer(rig.redis_url, rig.stream, f"producer-{n}", 10_000) for n in range(2)]
    try:
        worker = rig.start_worker("survivor")
        for producer in producers:
            producer.start()
        largest_backlog = restart_redis_rounds(
            rig, own_redis, producers, restarts=3, rng=random.Random(20250214)
        )
        # A restart happened while acknowledged events existed only in Redis.
        assert largest_backlog > 0
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="storing after the restarts")
        assert worker.poll() is None, "the worker died instead of reconnecting"
        published = stop_producers(producers)
        for producer in producers:  # told clearly, every time, that a retry is safe
            assert producer.errors
            assert all(re.search(PUBLISH_ERROR, e) for e in producer.errors), producer.errors
        assert_exactly_once(rig, published)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        for producer in producers:
            producer.finish.set()
        rig.stop_all()
