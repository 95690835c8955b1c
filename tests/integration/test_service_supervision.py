"""No silent death: a Redis error the ingest worker does not expect (its private Redis turned
into a read-only replica: READONLY) makes readiness say `down` while the worker is restarted
with backoff; when the fault is lifted it recovers and nothing is lost. A fault that outlasts
the restarts ends `claire serve` with exit code 1, for the supervisor outside to act on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from claire.audit.verify import verify_log
from claire.ingest import EventPublisher
from claire.store import open_store
from rigs.factories import factory, trade
from rigs.servers import PrivateRedis, free_port, private_redis
from tests.integration.test_api_service import ROOT, start_server, stop_server
from tests.integration.test_faults_restarts import _started

STREAM = "claire:events"
READ = "supervision-read-token"


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    yield from _started(private_redis())


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def service_env(store_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": store_url,
        "REDIS_URL": redis_url,
        "CLAIRE_INGEST_STREAM": STREAM,
        "CLAIRE_PUBSUB_CHANNEL": "",
        "CLAIRE_READ_TOKEN": READ,
    }
    env.update(extra)
    return env


def ready(url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{url}/health/ready", headers={"Authorization": f"Bearer {READ}"})
    return answer.status_code, answer.json()


def read_only_replica(server: PrivateRedis) -> redis.Redis[bytes]:
    """Turn the Redis into a replica of a master that does not exist: it keeps its data and
    answers every write (XREADGROUP included) with READONLY."""
    client = redis.Redis.from_url(server.url)
    client.replicaof("127.0.0.1", str(free_port()))
    return client


def test_an_unexpected_redis_error_is_down_then_recovers(
    tmp_path: Path, own_redis: PrivateRedis
) -> None:
    store_url = f"sqlite:///{tmp_path / 'events.db'}"
    open_store(store_url, create=True).close()
    f = factory("supervised")
    before, after = (
        [e for _ in range(10) for e in trade(f)],
        [e for _ in range(10) for e in trade(f)],
    )
    server = start_server(service_env(store_url, own_redis.url), log=tmp_path / "serve.log")
    try:
        with EventPublisher(own_redis.url, stream=STREAM) as publisher:
            publisher.publish_batch(before)
        with open_store(store_url) as store:
            wait_until(lambda: store.head().sequence_number == len(before), "the first events")
        assert ready(server.url)[0] == 200

        admin = read_only_replica(own_redis)
        wait_until(lambda: ready(server.url)[0] == 503, "readiness to say down")
        _, document = ready(server.url)
        ingest = document["components"]["ingest"]
        # UNBLOCKED (the blocked read, as Redis turned replica), then READONLY: restarting.
        assert ingest["status"] == "down"
        assert "stopped (" in ingest["detail"] and "restart" in ingest["detail"], ingest
        assert server.process.poll() is None  # restarting, not dead

        admin.replicaof("NO", "ONE")
        wait_until(lambda: ready(server.url)[0] == 200, "readiness to recover")
        with EventPublisher(own_redis.url, stream=STREAM) as publisher:
            publisher.publish_batch(after)
        with open_store(store_url) as store:
            wait_until(
                lambda: store.head().sequence_number == len(before) + len(after), "every event"
            )
            report = verify_log(store)
            stored = [r.event_id for r in store.iter_records()]
        assert report.ok
        assert stored == [str(e.event_id) for e in before + after]
        assert admin.xlen(f"{STREAM}:dead") == 0
    finally:
        assert stop_server(server) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "restarting in" in log


def test_a_fault_that_outlasts_the_restarts_ends_the_process(
    tmp_path: Path, own_redis: PrivateRedis
) -> None:
    store_url = f"sqlite:///{tmp_path / 'events.db'}"
    open_store(store_url, create=True).close()
    env = service_env(store_url, own_redis.url, CLAIRE_MAX_RESTARTS="1")
    server = start_server(env, log=tmp_path / "serve.log")
    read_only_replica(own_redis)
    try:
        code = server.process.wait(timeout=60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    log = (tmp_path / "serve.log").read_text()
    assert code == 1, log
    assert "ingest failed 2 times in a row" in log
    assert "giving up" in log
