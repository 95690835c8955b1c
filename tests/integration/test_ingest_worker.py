"""The ingest worker against the real Redis and PostgreSQL: lossless, exactly once, no poison
message blocking the stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis

from claire.events.codec import canonical_document, chain_hash
from claire.ingest import EventPublisher, IngestConfig, IngestWorker
from claire.store import EventStore, open_store
from rigs.factories import factory, trade

ROOT = Path(__file__).resolve().parents[2]
CLI = "from claire.cli.app import main; main()"
PRODUCER = """
import sys
from claire.ingest import EventPublisher
from rigs.factories import factory, trade
url, stream, name, trades = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
f = factory(name)
with EventPublisher(url, stream=stream) as publisher:
    for _ in range(trades):
        events = trade(f)
        publisher.publish_batch(events)
        print("\\n".join(str(e.event_id) for e in events), flush=True)
"""


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pending(client: redis.Redis[bytes], stream: str, group: str) -> int:
    untyped: Any = client  # the stubs leave XPENDING untyped
    return int(untyped.xpending(stream, group)["pending"])


def head(url: str) -> int:
    with open_store(url, create=True) as store:
        return store.head().sequence_number


def assert_chain_intact(store: EventStore) -> list[str]:
    """Gapless sequence from 1 and every hash recomputes; returns the stored ids in order."""
    ids, expected, prev = [], 1, "0" * 64
    for record in store.iter_records():
        assert record.sequence_number == expected
        assert record.prev_hash == prev
        assert chain_hash(prev, record.canonical) == record.hash
        ids.append(record.event_id)
        expected, prev = expected + 1, record.hash
    return ids


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--no-api"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_producers_and_a_killed_worker_store_every_event_exactly_once(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_base_url,
        "CLAIRE_INGEST_STREAM": stream,
        "CLAIRE_PUBSUB_CHANNEL": "",
        "CLAIRE_INGEST_BATCH": "50",
        "CLAIRE_CLAIM_IDLE_MS": "1000",
    }
    migrated = subprocess.run(
        [sys.executable, "-c", CLI, "db", "migrate"], env=env, cwd=ROOT, check=False
    )
    assert migrated.returncode == 0
    first = start_worker(env)
    producers = [
        subprocess.Popen(
            [sys.executable, "-c", PRODUCER, redis_base_url, stream, f"producer-{n}", "150"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for n in range(3)
    ]
    wait_for(lambda: head(pg_url) >= 300, what="the first worker to store 300 events")
    first.send_signal(signal.SIGKILL)
    first.wait()
    # A database outage while the replacement works: every backend is terminated once.
    second = start_worker(env)
    wait_for(lambda: head(pg_url) >= 600, what="the second worker to make progress")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    published: list[str] = []
    for producer in producers:
        out, _ = producer.communicate(timeout=60)
        assert producer.returncode == 0
        published += out.decode().split()
    assert len(published) == 3 * 150 * 5
    wait_for(lambda: head(pg_url) >= len(published), what="every event to be stored")

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, second.stderr.read().decode()  # type: ignore[union-attr]
    with open_store(pg_url, create=True) as store:
        stored = assert_chain_intact(store)
    assert len(stored) == len(published) == len(set(stored))
    assert set(stored) == set(published)
    client = redis.Redis.from_url(redis_base_url)
    assert pending(client, stream, "claire-ingest") == 0
    assert client.xlen(f"{stream}:dead") == 0


@contextmanager
def running(worker: IngestWorker) -> Iterator[IngestWorker]:
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_poison_messages_are_dead_lettered_and_the_good_ones_stored(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    config = IngestConfig(
        stream=f"{redis_prefix}events",
        group="ingest",
        consumer="poison-test",
        block_ms=100,
        causation_grace_ms=300,
        retry_interval_ms=50,
    )
    client = redis.Redis.from_url(redis_base_url)
    f = factory("poison")
    good = [e for _ in range(6) for e in trade(f)]
    unknown_type = {**canonical_document(good[0]), "event_type": "moon_landing"}
    bad_payload = canonical_document(good[1])
    bad_payload["payload"] = {**bad_payload["payload"], "confidence": "7"}
    orphan = trade(f)[1]  # its market data never comes
    conflict = {**canonical_document(good[0]), "timestamp_logical": 999_999}
    poison: list[tuple[dict[bytes, bytes], str]] = [
        ({b"event": b"{not json"}, "not valid JSON"),
        ({b"event": orjson.dumps(unknown_type)}, "event_type"),
        ({b"event": orjson.dumps(bad_payload)}, "payload.confidence"),
        ({b"payload": b"{}"}, "no 'event' field"),
        ({b"event": b"x" * (1024 * 1024 + 1)}, "1 MiB"),
        ({b"event": orjson.dumps(canonical_document(orphan))}, "unknown cause"),
        ({b"event": orjson.dumps(conflict)}, "conflict"),
    ]
    with EventPublisher(redis_base_url, stream=config.stream) as publisher:
        publisher.publish_batch(good[:15])
        poison_ids = [client.xadd(config.stream, fields) for fields, _ in poison]
        publisher.publish_batch(good[15:])

    with open_store(pg_url, create=True) as store:
        with running(IngestWorker(store, redis_base_url, config)) as worker:
            wait_for(lambda: worker.counts.dead == len(poison), timeout=30, what="dead letters")
        assert [str(i) for i in assert_chain_intact(store)] == [str(e.event_id) for e in good]

    letters = {entry[1][b"source_id"]: entry[1] for entry in client.xrange(config.dead_stream)}
    assert sorted(letters) == sorted(poison_ids)
    for source_id, (original, expected_reason) in zip(poison_ids, poison, strict=True):
        fields = letters[source_id]
        assert expected_reason in fields[b"reason"].decode()
        kept = {
            k.removeprefix(b"message."): v for k, v in fields.items() if k.startswith(b"message.")
        }
        assert kept == original
    assert pending(client, config.stream, config.group) == 0

    # `claire dead-letters list` shows them; once the missing cause is stored, `retry` re-drives
    # the orphan and the worker stores it.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "REDIS_URL": redis_base_url,
        "CLAIRE_INGEST_STREAM": config.stream,
    }
    listed = subprocess.run(
        [sys.executable, "-c", CLI, "dead-letters", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    document = orjson.loads(listed.stdout)
    assert document["total"] == len(poison)
    [orphan_letter] = [d for d in document["dead_letters"] if "unknown cause" in d["reason"]]

    with open_store(pg_url, create=True) as store:
        assert orphan.causation_id is not None
        cause = good[0].model_copy(
            update={"event_id": orphan.causation_id, "correlation_id": orphan.correlation_id}
        )
        store.append(cause)
        retried = subprocess.run(  # noqa: PLW1510 - the return code is asserted
            [sys.executable, "-c", CLI, "dead-letters", "retry", orphan_letter["id"]],
            env=env,
            capture_output=True,
            text=True,
        )
        assert retried.returncode == 0, retried.stderr
        assert "1 dead letter(s) put back" in retried.stdout
        with running(IngestWorker(store, redis_base_url, config)) as worker:
            wait_for(lambda: store.get(orphan.event_id) is not None, what="the retried letter")
        assert worker.counts.dead == 0
        assert len(assert_chain_intact(store)) == len(good) + 2
    assert client.xlen(config.dead_stream) == len(poison) - 1
    refused = subprocess.run(  # noqa: PLW1510 - the return code is asserted
        [sys.executable, "-c", CLI, "dead-letters", "retry"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--all" in refused.stderr


def test_an_event_waits_for_its_cause_within_the_grace_period(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    config = IngestConfig(
        stream=f"{redis_prefix}events",
        block_ms=100,
        causation_grace_ms=60_000,
        retry_interval_ms=50,
    )
    events = trade(factory("late"))
    with (
        EventPublisher(redis_base_url, stream=config.stream) as publisher,
        open_store(pg_url, create=True) as store,
    ):
        publisher.publish_batch(events[1:])  # effects first: their causes are not stored yet
        with running(IngestWorker(store, redis_base_url, config)) as worker:
            wait_for(lambda: worker.counts.batches >= 2, what="a first attempt")
            assert store.head().sequence_number == 0
            publisher.publish(events[0])
            wait_for(lambda: store.head().sequence_number == 5, what="the waiting events")
        assert worker.counts.dead == 0
        assert {str(i) for i in assert_chain_intact(store)} == {str(e.event_id) for e in events}


def test_messages_pending_on_a_dead_consumer_are_claimed(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    client = redis.Redis.from_url(redis_base_url)
    events = trade(factory("claim"))
    with EventPublisher(redis_base_url, stream=stream) as publisher:
        publisher.publish_batch(events)
    # A consumer reads the batch and dies before storing it.
    client.xgroup_create(stream, "claire-ingest", id="0")
    client.xreadgroup("claire-ingest", "dead-consumer", {stream: ">"}, count=10)
    config = IngestConfig(stream=stream, consumer="heir", block_ms=100, claim_idle_ms=200)
    with open_store(pg_url, create=True) as store:
        with running(IngestWorker(store, redis_base_url, config)) as worker:
            wait_for(lambda: store.head().sequence_number == 5, what="the claimed events")
        assert worker.counts.claimed == 5
    assert pending(client, stream, "claire-ingest") == 0


def test_publishing_to_a_dead_redis_is_a_clear_error() -> None:
    from claire.ingest import PublishError

    with EventPublisher("redis://127.0.0.1:1/0") as publisher, pytest.raises(PublishError) as err:
        publisher.publish(trade()[0])
    assert "publishing again is safe" in str(err.value)
