"""EventPublisher: what producer services use to hand events to the store through Redis."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

import redis

from claire.events.model import BaseEvent
from claire.ingest.streams import DEFAULT_STREAM, EVENT_FIELD, PublishError, encode_event

# Events go to Redis in pipelines of this many, so a huge batch does not build one giant reply.
PIPELINE_CHUNK = 1000


class EventPublisher:
    """Writes each event's canonical encoding to a Redis Stream (XADD).

    Publishing is at-least-once: if Redis fails mid-way a PublishError says so and the
    producer may publish the same events again; the store keeps each event_id once.
    """

    def __init__(self, redis_url: str, stream: str = DEFAULT_STREAM) -> None:
        self.stream = stream
        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=10)

    def publish(self, event: BaseEvent) -> str:
        """Publish one event; return its stream message id."""
        return self.publish_batch([event])[0]

    def publish_batch(self, events: Iterable[BaseEvent]) -> list[str]:
        """Publish events in order; return their stream message ids."""
        encoded = [encode_event(e) for e in events]
        ids: list[str] = []
        try:
            for start in range(0, len(encoded), PIPELINE_CHUNK):
                pipe = self._redis.pipeline(transaction=False)
                for data in encoded[start : start + PIPELINE_CHUNK]:
                    pipe.xadd(self.stream, {EVENT_FIELD: data})
                ids.extend(_text(i) for i in pipe.execute())
        except redis.RedisError as exc:
            raise PublishError(
                f"could not publish to Redis stream {self.stream!r} after {len(ids)} of "
                f"{len(encoded)} events: {exc} (publishing again is safe)"
            ) from exc
        return ids

    def close(self) -> None:
        self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
