"""A passing outage is not a poison message: 1,000 events published while the store cannot
take them are all stored once the outage ends — exactly once, gapless, the chain verified —
and none is dead-lettered.

The outages, each 10 s, each on something this test owns:
  (a) the SQLite file locked by another process (held a little longer than the adapter's own
      10 s busy timeout, so the worker itself must see "database is locked");
  (b) the PostgreSQL database switched to `default_transaction_read_only = on` (as after a
      failover to a standby), its sessions terminated so new ones see it;
  (c) INSERT revoked from the writer role on this database's table, then granted back;
  (d) a private PostgreSQL cluster stopped and started again.
The worker runs in this process (a thread), so the test can watch its health: it must say
`degraded` during the outage and `ok` after it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from prometheus_client import REGISTRY

from claire.audit.verify import verify_log
from claire.ingest import EventPublisher, IngestConfig, IngestWorker
from claire.store import open_store
from claire.supervision import State, TaskHealth
from rigs.factories import factory, trade
from rigs.servers import PrivatePostgres, private_postgres
from tests.integration.test_faults_restarts import _started

OUTAGE_S = 10.0
EVENTS = 1000  # 200 trades of 5 events
CHUNKS = 10


@dataclass
class Watch:
    """The worker's health, sampled every 50 ms on a thread until `done`."""

    health: TaskHealth
    seen: list[State] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.seen.append(self.health.status().state)


def reconnects(dependency: str) -> float:
    value = REGISTRY.get_sample_value("claire_ingest_reconnects_total", {"dependency": dependency})
    return value or 0.0


def ingest_through_outage(
    store_url: str,
    redis_url: str,
    stream: str,
    begin: Callable[[], None],
    end: Callable[[], None],
    *,
    outage_s: float = OUTAGE_S,
) -> None:
    """Run a worker, cause the outage, publish 1,000 events during it, end it; then check."""
    f = factory("outage")
    events = [e for _ in range(EVENTS // 5) for e in trade(f)]
    config = IngestConfig(
        stream=stream, consumer="outage", block_ms=100, batch_size=100, retry_interval_ms=100
    )
    health = TaskHealth("ingest")
    worker = IngestWorker(store_url, redis_url, config, health=health)
    watch = Watch(health)
    threads = [threading.Thread(target=worker.run), threading.Thread(target=watch.run)]
    failures_before = reconnects("store")
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while health.status().state is not State.OK and time.monotonic() < deadline:
            time.sleep(0.02)
        begin()
        started = time.monotonic()
        with EventPublisher(redis_url, stream=stream) as publisher:
            size = EVENTS // CHUNKS
            for start in range(0, EVENTS, size):
                publisher.publish_batch(events[start : start + size])
                time.sleep(outage_s * 0.6 / CHUNKS)  # spread over the first part of the outage
        time.sleep(max(0.0, outage_s - (time.monotonic() - started)))
        end()
        deadline = time.monotonic() + 60
        with open_store(store_url) as store:
            while store.head().sequence_number < EVENTS and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        worker.stop()
        watch.done.set()
        for thread in threads:
            thread.join(timeout=60)
        worker.close()
    assert not threads[0].is_alive(), "the worker did not stop"

    with open_store(store_url) as store:
        report = verify_log(store)
        records = list(store.iter_records())
    assert report.ok, report.to_document()
    assert [r.sequence_number for r in records] == list(range(1, EVENTS + 1)), "not gapless"
    assert [r.event_id for r in records] == [str(e.event_id) for e in events], "not exactly once"
    client: Any = redis.Redis.from_url(redis_url)
    assert client.xlen(config.dead_stream) == 0, client.xrange(config.dead_stream, count=1)
    assert worker.counts.dead == 0
    assert int(client.xpending(stream, config.group)["pending"]) == 0
    # The worker saw the outage, said so, counted it, and came back.
    assert worker.counts.reconnects >= 1
    assert reconnects("store") > failures_before
    assert State.DEGRADED in watch.seen, sorted(set(watch.seen))
    assert watch.seen[-1] is State.OK


# --- (a) SQLite locked by another process ------------------------------------------------------
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def test_sqlite_locked_by_another_process(
    tmp_path: Path, redis_base_url: str, redis_prefix: str
) -> None:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    open_store(url, create=True).close()  # the schema, before anybody locks the file
    # Past the adapter's 10 s busy timeout, so the append itself fails with "locked".
    hold_s = OUTAGE_S + 2
    locker: list[subprocess.Popen[str]] = []

    def begin() -> None:
        process = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path), str(hold_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        locker.append(process)

    def end() -> None:
        assert locker[0].wait(timeout=30) == 0

    ingest_through_outage(url, redis_base_url, f"{redis_prefix}events", begin, end, outage_s=hold_s)


# --- (b) and (c) on a throwaway PostgreSQL database ---------------------------------------------
def terminate_sessions(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def migrated(url: str) -> str:
    with open_store(url, create=True) as store:
        store.migrate()
    return url


def test_postgres_read_only_for_a_while(
    pg_url: str, pg_admin_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    name = database_of(migrated(pg_url))

    def switch(setting: str) -> Callable[[], None]:
        def apply() -> None:
            with psycopg.connect(pg_admin_url, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" {setting}'.encode())
            terminate_sessions(pg_admin_url, name)  # sessions keep the default they began with

        return apply

    begin = switch("SET default_transaction_read_only = on")

    # Ending it leaves the worker's sessions as they are: those it opened during the outage
    # still default to read-only, as after a failover they would be gone; it must cope.
    def end() -> None:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'.encode())

    ingest_through_outage(pg_url, redis_base_url, f"{redis_prefix}events", begin, end)


def test_insert_revoked_from_the_writer_role_for_a_while(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    migrated(pg_url)  # as the administrator: creates the roles and grants them
    writer_url = pg_url.replace("://postgres@", "://claire_writer@", 1)
    assert writer_url != pg_url

    def grant(statement: str) -> Callable[[], None]:
        def apply() -> None:
            with psycopg.connect(pg_url, autocommit=True) as conn:  # this database only
                conn.execute(statement.encode())

        return apply

    ingest_through_outage(
        writer_url,
        redis_base_url,
        f"{redis_prefix}events",
        grant("REVOKE INSERT ON events FROM claire_writer"),
        grant("GRANT INSERT ON events TO claire_writer"),
    )


# --- (d) PostgreSQL restarted --------------------------------------------------------------------
@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    yield from _started(private_postgres())


def test_postgres_down_for_a_while(
    own_postgres: PrivatePostgres, redis_base_url: str, redis_prefix: str
) -> None:
    url = migrated(own_postgres.create_database("claire"))
    ingest_through_outage(
        url,
        redis_base_url,
        f"{redis_prefix}events",
        lambda: own_postgres.stop("fast"),
        own_postgres.start,
    )
