"""Real restarts while the ingest worker runs and producers publish: PostgreSQL restarted
(`pg_ctl restart -m fast`) and Redis restarted (stopped, then started on the same port and
AOF directory). Every acknowledged event must end up stored exactly once, gapless, verified.

The restarted server is always a private one (rigs/servers.py): the machine's shared servers
serve other tests at the same moment. The other side of each test uses the shared server.
"""

from __future__ import annotations

import os
import random
import re
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

import pytest

from rigs.ingest import (
    Producer,
    make_rig,
    restart_postgres_rounds,
    restart_redis_rounds,
    stop_producers,
    stored_count,
    wait_for,
)
from rigs.servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerUnavailableError,
    private_postgres,
    private_redis,
)
from tests.integration.test_faults_ingest import assert_exactly_once

PUBLISH_ERROR = r"could not publish to Redis stream .* \(publishing again is safe\)"


T = TypeVar("T")


def require_or_skip(exc: ServerUnavailableError) -> None:
    """Skip the test, or fail it when CI demands every service (as tests/conftest.py does)."""
    message = f"a private server cannot be started here: {exc}"
    if os.environ.get("CLAIRE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"CLAIRE_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


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
