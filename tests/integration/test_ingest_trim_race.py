"""Trimming the stream while a batch commits in the background must not stop the worker.

Found by benchmarks/faults.py: the main thread trims (XINFO GROUPS, then XPENDING) while the
commit thread acknowledges. When the last pending message was acknowledged between those two
calls, XPENDING reported no lowest pending id and the worker died on it (AttributeError).
The test makes that interleaving happen every time: the acknowledgement is sent, on the real
Redis, just before the trim's XPENDING.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from claire.ingest import IngestConfig
from claire.ingest.worker import IngestWorker
from claire.store import open_store


def test_last_pending_message_acknowledged_while_trimming(
    redis_base_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = f"{redis_prefix}events"
    config = IngestConfig(stream=stream, consumer="trimmer")
    client: Any = redis.Redis.from_url(redis_base_url)  # the stubs leave xack, xinfo untyped
    client.xgroup_create(stream, config.group, id="0", mkstream=True)
    for n in range(3):  # trimming never looks inside a message
        client.xadd(stream, {"event": f"message {n}"})
    # All delivered to this consumer and pending, as while a batch commits.
    delivered: Any = client.xreadgroup(config.group, config.consumer, {stream: ">"})
    ids = [message_id for message_id, _ in delivered[0][1]]
    with open_store("memory://") as store:  # never used: trimming touches only Redis
        worker = IngestWorker(store, redis_base_url, config)
        untyped: Any = worker.redis
        real_xpending = untyped.xpending

        def acknowledged_just_before(*args: Any, **kwargs: Any) -> Any:
            client.xack(stream, config.group, *ids)  # what the commit thread does meanwhile
            return real_xpending(*args, **kwargs)

        monkeypatch.setattr(untyped, "xpending", acknowledged_just_before)
        try:
            worker.consumer.trim_consumed()
        finally:
            worker.close()
    # Everything was acknowledged, so everything is trimmed: the backlog is nothing.
    assert client.xlen(stream) == 0
    assert int(client.xinfo_groups(stream)[0]["pending"]) == 0
