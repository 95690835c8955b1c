"""Faults during ingestion: the worker SIGKILLed at random points, PostgreSQL and Redis connections
cut while it works. Every published event must end up stored exactly once, gapless, verified.

The outages are simulated per test (pg_terminate_backend on the test's own database, Redis
CLIENT KILL of the worker's own connections) because the servers are shared with other tests;
`benchmarks/faults.py` restarts the real servers.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from claire.audit.verify import verify_log
from claire.errors import ClaireError
from claire.ingest import EventPublisher
from claire.store import open_store
from rigs.factories import trade
from rigs.ingest import (
    GROUP,
    Producer,
    Rig,
    make_rig,
    redis_clients_of,
    stop_producers,
    stored_count,
    wait_for,
)


@pytest.fixture
def rig(pg_url: str, redis_base_url: str, redis_prefix: str) -> Iterator[Rig]:
    made = make_rig(pg_url, redis_base_url, f"{redis_prefix}events")
    try:
        yield made
    finally:
        made.stop_all()


def assert_exactly_once(rig: Rig, published: list[str]) -> None:
    """Every published event stored once, gapless from 1, the chain verified, nothing left."""
    wait_for(lambda: stored_count(rig.pg_url) >= len(set(published)), what="all events stored")
    with open_store(rig.pg_url, create=True) as store:
        report = verify_log(store)
        assert report.ok, report.to_document()
        stored = [r.event_id for r in store.iter_records()]
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(published), "an event was lost (or one appeared from nowhere)"
    assert report.checked == len(published)
    client = redis.Redis.from_url(rig.redis_url)
    untyped: Any = client
    wait_for(lambda: int(untyped.xpending(rig.stream, GROUP)["pending"]) == 0, what="no pending")
    assert client.xlen(f"{rig.stream}:dead") == 0


def test_worker_sigkilled_at_random_points_loses_and_duplicates_nothing(rig: Rig) -> None:
    rng = random.Random(20250214)  # seeded: the same kill points every run
    # Producers keep publishing until every kill round is done, so each round kills a worker
    # that has work in hand.
    producers = [Producer(rig.redis_url, rig.stream, f"producer-{n}", 10_000) for n in range(2)]
    for producer in producers:
        producer.start()
    rounds = 10
    for round_number in range(rounds):
        # Half the rounds restart under the same consumer name (it re-reads its own pending
        # messages); the other half under a new one (the dead one's messages must be claimed).
        consumer = "steady" if round_number % 2 else f"round-{round_number}"
        worker = rig.start_worker(consumer)
        before = stored_count(rig.pg_url)
        wait_for(
            lambda: stored_count(rig.pg_url) > before,  # noqa: B023 - used at once, in the loop
            what=f"round {round_number}: the worker to store something",
        )
        time.sleep(rng.uniform(0.0, 0.12))  # somewhere in a read, an append or an ack
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    published = stop_producers(producers)
    final = rig.start_worker("final")
    assert len(published) >= 2 * rounds * 5
    assert_exactly_once(rig, published)
    final.send_signal(signal.SIGTERM)
    assert final.wait(timeout=30) == 0


def test_lost_database_and_redis_connections_while_the_worker_runs(rig: Rig) -> None:
    """Cut the worker's PostgreSQL backends and Redis connections again and again while
    producers publish (their own connections are cut too): it reconnects, loses nothing."""
    admin = redis.Redis.from_url(rig.redis_url)
    producers = [Producer(rig.redis_url, rig.stream, f"producer-{n}", 10_000) for n in range(2)]
    worker = rig.start_worker("survivor")
    for producer in producers:
        producer.start()
    cuts = {"postgres": 0, "redis": 0}
    for n in range(8):
        wait_for(lambda: stored_count(rig.pg_url) > 0, what="the worker to start storing")
        time.sleep(0.1)
        if n % 2 == 0:
            with psycopg.connect(rig.pg_url, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
            cuts["postgres"] += int(killed[0]) if killed else 0
        else:
            # The worker's connections, and the producers' (in this process; Redis skips the
            # connection that sends CLIENT KILL, so `admin` survives).
            untyped: Any = admin
            for pid in (worker.pid, os.getpid()):
                for addr in redis_clients_of(admin, pid):
                    try:
                        untyped.client_kill(addr)
                    except redis.ResponseError:  # closed by itself meanwhile
                        continue
                    cuts["redis"] += 1
        assert worker.poll() is None, "the worker died instead of reconnecting"
    published = stop_producers(producers)
    assert cuts["postgres"] > 0
    assert cuts["redis"] > 0
    assert_exactly_once(rig, published)
    for producer in producers:  # any publish error the producers saw named the stream
        assert all("could not publish" in e for e in producer.errors)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_publishing_while_redis_is_unreachable_is_a_clear_retryable_error(
    redis_prefix: str,
) -> None:
    with (
        EventPublisher("redis://127.0.0.1:1/0", stream=f"{redis_prefix}x") as publisher,
        pytest.raises(ClaireError, match=r"could not publish .* \(publishing again is safe\)"),
    ):
        publisher.publish_batch(trade())
