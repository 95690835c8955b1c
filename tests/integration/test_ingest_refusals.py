"""A message that passes validation but that the store cannot encode is a dead letter too.

An 870 KB message (under the 1 MiB message limit) whose numbers normalise to 3 MB of
canonical JSON is refused by the store with EventValidationError; the worker must dead-letter
it and store the events around it, not stop.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import redis

from claire.events.codec import canonical_document
from claire.ingest import EventPublisher, IngestConfig, IngestWorker
from claire.store import open_store
from rigs.factories import factory, trade


def test_an_event_too_large_once_normalised_is_dead_lettered(
    pg_url: str, redis_base_url: str, redis_prefix: str
) -> None:
    config = IngestConfig(stream=f"{redis_prefix}events", consumer="refusals", block_ms=100)
    f = factory("refusals")
    before, after = trade(f), trade(f)
    signal = trade(f)[1]
    document = canonical_document(signal)
    # 1e-40 is 5 bytes in the message and 42 characters of canonical decimal text. (1e40 would
    # be refused outright: it is an integer beyond 64 bits.)
    document["payload"]["strategy_params"] = {f"k{i}": 1e-40 for i in range(60_000)}
    swollen = orjson.dumps(document)
    assert len(swollen) < 1024 * 1024
    client: Any = redis.Redis.from_url(redis_base_url)
    with EventPublisher(redis_base_url, stream=config.stream) as publisher:
        publisher.publish_batch(before)
        poison_id = client.xadd(config.stream, {b"event": swollen})
        publisher.publish_batch(after)

    with open_store(pg_url, create=True) as store:
        worker = IngestWorker(store, redis_base_url, config)
        thread = threading.Thread(target=worker.run)
        thread.start()
        deadline = time.monotonic() + 30
        while worker.counts.dead < 1 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.stop()
        thread.join(timeout=30)
        assert worker.counts.dead == 1
        stored = [e.event_id for e in store.read()]
    assert stored == [e.event_id for e in before + after]
    [(_, letter)] = client.xrange(config.dead_stream)
    assert letter[b"source_id"] == poison_id
    assert b"exceed the limit of 1048576 bytes (1 MiB)" in letter[b"reason"]
    assert int(client.xpending(config.stream, config.group)["pending"]) == 0
