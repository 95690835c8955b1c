"""The Redis side of the ingest worker: one consumer of the group on one stream.

Reading new and pending messages, claiming a dead consumer's messages, writing dead letters
and acknowledging atomically, trimming what every group acknowledged, and Redis's clock.
Nothing here touches the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis

from claire.ingest.batches import DeadItem
from claire.ingest.deadletters import dead_letter_fields
from claire.ingest.metrics import DEAD_LETTERS
from claire.ingest.streams import (
    IngestConfig,
    Message,
    connect_redis,
    read_raw_stream_replies,
    stream_entries,
)

log = logging.getLogger("claire.ingest")


class StreamConsumer:
    def __init__(self, redis_url: str, config: IngestConfig) -> None:
        self.config = config
        self.redis = connect_redis(redis_url, block_ms=config.block_ms)
        read_raw_stream_replies(self.redis)

    def close(self) -> None:
        self.redis.close()

    def ensure_group(self) -> None:
        try:
            # From id 0: events published before the first worker started are ingested too.
            self.redis.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, start: str | bytes = ">", *, block_ms: int | None = None) -> list[Message]:
        """New messages (start '>'), or this consumer's pending ones after `start`."""
        reply: Any = self.redis.xreadgroup(
            self.config.group,
            self.config.consumer,
            {self.config.stream: start},
            count=self.config.batch_size,
            block=block_ms,
        )
        return stream_entries(reply)

    def own_pending(self) -> Iterator[list[Message]]:
        """Every message delivered to this consumer and not yet acknowledged, batch by batch."""
        start: bytes = b"0"
        while messages := self.read(start):
            yield messages
            start = messages[-1][0]

    def claim_abandoned(self) -> Iterator[list[Message]]:
        """Take over messages another consumer left pending longer than claim_idle_ms."""
        start: bytes | str = "0-0"
        while True:
            reply: Any = self.redis.xautoclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id=start,
                count=self.config.batch_size,
            )
            start, messages = reply[0], list(reply[1])
            if messages:
                log.info("claimed %d messages left pending by another consumer", len(messages))
                yield messages
            if start in (b"0-0", "0-0"):
                return

    def settle(self, ack_ids: list[bytes], dead: list[DeadItem]) -> None:
        """Write dead letters and acknowledge, atomically (MULTI/EXEC)."""
        if not ack_ids:
            return
        pipe = self.redis.pipeline(transaction=True)
        for item in dead:
            pipe.xadd(
                self.config.dead_stream,
                dead_letter_fields(
                    source_stream=self.config.stream,
                    source_id=item.message_id,
                    fields=item.fields,
                    reason=item.reason,
                    consumer=self.config.consumer,
                ),
            )
        pipe.xack(self.config.stream, self.config.group, *ack_ids)
        pipe.execute()
        for item in dead:
            DEAD_LETTERS.labels(item.kind).inc()
            log.warning("dead letter %s: %s", item.message_id.decode(), item.reason)

    def now_ms(self) -> int:
        """Redis's clock (ms): the same clock that stamped the message ids."""
        seconds, micros = self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def trim_consumed(self) -> None:
        """Delete entries every group has acknowledged, so XLEN is the real backlog."""
        client: Any = self.redis  # the stubs leave these two commands untyped
        groups = client.xinfo_groups(self.config.stream)
        floor: tuple[int, int] | None = None
        for group in groups:
            # The commit thread may acknowledge the last pending message between the two
            # calls: XPENDING then has no `min`, and everything up to the last delivered id
            # (as XINFO saw it) is acknowledged, exactly as when nothing was pending.
            lowest = None
            if int(group["pending"]) > 0:
                lowest = client.xpending(self.config.stream, group["name"])["min"]
            if lowest is not None:
                candidate = _parse_id(lowest)
            else:
                ms, seq = _parse_id(group["last-delivered-id"])
                candidate = (ms, seq + 1)
            floor = candidate if floor is None else min(floor, candidate)
        if floor is not None and floor > (0, 0):
            self.redis.xtrim(self.config.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)


def _parse_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
