"""The ingest rig: a migrated PostgreSQL store, a Redis stream, worker processes started and
killed on demand, producers publishing trades, and rounds of real server restarts. Shared by
the fault tests (tests/integration/test_faults_*.py) and `benchmarks/faults.py`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis

from claire.errors import ClaireError
from claire.ingest import EventPublisher
from claire.store import open_store
from rigs.factories import factory, trade
from rigs.servers import PrivatePostgres, PrivateRedis

ROOT = Path(__file__).resolve().parents[1]
# The worker alone (no HTTP app imported): starts fast, so many kill rounds stay cheap.
WORKER = """
import logging, os, sys
from claire.config import load_settings
from claire.ingest import IngestConfig
from claire.ingest.worker import run_worker
logging.basicConfig(level=logging.WARNING)
settings = load_settings()
run_worker(settings.database_url, settings.redis_url, IngestConfig.from_settings(
    settings, block_ms=200, retry_interval_ms=100))
"""
GROUP = "claire-ingest"


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stored_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


@dataclass
class Rig:
    """A stream, a database, and worker processes started and killed on demand."""

    pg_url: str
    redis_url: str
    stream: str
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, consumer: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if consumer:
            env["CLAIRE_INGEST_CONSUMER"] = consumer
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


class Producer(threading.Thread):
    """Publishes trades; a failed publish is retried (safe: the store dedups by event_id).
    `acknowledged` holds the ids of every event whose publish call returned."""

    def __init__(self, redis_url: str, stream: str, name: str, trades: int) -> None:
        super().__init__(daemon=True)
        self.publisher = EventPublisher(redis_url, stream=stream)
        self.factory = factory(name)
        self.trades = trades
        self.acknowledged: list[str] = []
        self.errors: list[str] = []
        self.finish = threading.Event()  # set: stop after the trade in hand

    def run(self) -> None:
        for _ in range(self.trades):
            if self.finish.is_set():
                break
            events = trade(self.factory)
            for _attempt in range(50):
                try:
                    self.publisher.publish_batch(events)
                    break
                except ClaireError as exc:  # PublishError: clear, and safe to retry
                    self.errors.append(str(exc))
                    time.sleep(0.05)
            else:
                raise AssertionError(f"could not publish: {self.errors[-1]}")
            self.acknowledged += [str(e.event_id) for e in events]
            time.sleep(0.01)  # a steady stream rather than one burst
        self.publisher.close()


def redis_clients_of(client: redis.Redis[bytes], pid: int) -> list[str]:
    """The Redis client addresses (ip:port) that belong to one process."""
    ports = {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == 6379
    }
    untyped: Any = client
    return [
        entry["addr"]
        for entry in untyped.client_list()
        if int(str(entry["addr"]).rsplit(":", 1)[1]) in ports
    ]


# The store waits up to 10 s for a pooled connection (then retries a few times) before it
# reports PostgreSQL unavailable; an outage longer than that reaches the worker's own recovery.
LONG_OUTAGE_S = 12.0


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
