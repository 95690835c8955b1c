"""What the publisher, the worker and the dead-letter tools agree on: names, limits, encoding.

A stream message carries one event as its canonical JSON bytes in the field `event`. Other
fields are ignored by the worker (a producer may add tracing fields) but kept in dead letters.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claire.errors import ClaireError, EventValidationError
from claire.events.codec import parse_event_json
from claire.events.model import BaseEvent
from claire.ingest.admission import trusted_services

if TYPE_CHECKING:
    import redis

    from claire.config import Settings

DEFAULT_STREAM = "claire:events"
DEFAULT_GROUP = "claire-ingest"
DEFAULT_CHANNEL = "claire:events"
EVENT_FIELD = b"event"
# The documented size limit of one event, on every entry (stream, Pub/Sub, POST /events).
MAX_EVENT_BYTES = 1024 * 1024

# (message id, fields) as redis-py returns them with decode_responses=False.
Message = tuple[bytes, dict[bytes, bytes]]


class PublishError(ClaireError):
    """An event could not be handed to Redis; the producer may retry (publishing is idempotent
    by event_id downstream)."""


class EventTooLargeError(EventValidationError):
    def __init__(self, size: int) -> None:
        super().__init__(
            [("event", f"{size} bytes is larger than the limit of {MAX_EVENT_BYTES} bytes (1 MiB)")]
        )


def default_consumer_name() -> str:
    """Unique per process, stable for its life: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Where the worker reads, how much at once, and how long it waits before giving up."""

    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    consumer: str = field(default_factory=default_consumer_name)
    dead_letter_stream: str | None = None  # default: "<stream>:dead"
    batch_size: int = 1000
    block_ms: int = 1000
    # Messages pending this long on another consumer are taken over (it is presumed dead).
    claim_idle_ms: int = 30_000
    # An event whose cause is not stored yet waits this long (its cause may still arrive).
    causation_grace_ms: int = 30_000
    # How often waiting messages are tried again.
    retry_interval_ms: int = 500
    # Trim acknowledged entries off the stream so its length is the real backlog.
    trim: bool = True
    # Producers whose state_snapshot events are accepted (claire.ingest.admission).
    trusted_snapshot_services: frozenset[str] = frozenset()

    @property
    def dead_stream(self) -> str:
        return self.dead_letter_stream or f"{self.stream}:dead"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IngestConfig:
        values: dict[str, Any] = {
            "stream": settings.ingest_stream,
            "group": settings.ingest_group,
            "dead_letter_stream": settings.dead_letter_stream,
            "batch_size": settings.ingest_batch_size,
            "claim_idle_ms": settings.claim_idle_ms,
            "causation_grace_ms": settings.causation_grace_ms,
            "trusted_snapshot_services": trusted_services(settings.trusted_snapshot_services),
        }
        if settings.ingest_consumer:
            values["consumer"] = settings.ingest_consumer
        values.update(overrides)
        return cls(**values)


def connect_redis(url: str, *, block_ms: int = 1000) -> redis.Redis[bytes]:
    """A client with bytes replies; reads may block up to block_ms, so the timeout is longer."""
    import redis as redis_module

    return redis_module.Redis.from_url(
        url,
        socket_connect_timeout=3,
        socket_timeout=block_ms / 1000 + 10,
        health_check_interval=30,
    )


def read_raw_stream_replies(client: redis.Redis[bytes]) -> None:
    """Make this client return XREADGROUP replies as Redis sent them (see `stream_entries`).

    redis-py's reply callback builds a dict per message in Python, which costs more than
    validating the event; `stream_entries` does the same work with one comprehension.
    Only for a client of the worker's own: other users of a client expect the parsed form.
    """
    untyped: Any = client  # the stubs leave set_response_callback untyped
    untyped.set_response_callback("XREADGROUP", _unparsed)


def _unparsed(response: Any, **options: Any) -> Any:
    return response


def stream_entries(reply: Any) -> list[Message]:
    """The messages of a raw XREADGROUP reply for one stream, RESP2 or RESP3.

    RESP2 sends [[stream, entries]], RESP3 {stream: entries}; an entry is [id, [field,
    value, ...]], or [id, None] when it was deleted while pending (empty fields here).
    """
    if not reply:
        return []
    entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    return [(entry_id, _pairs(flat)) for entry_id, flat in entries]


def _pairs(flat: list[bytes] | None) -> dict[bytes, bytes]:
    if not flat:
        return {}
    if len(flat) == 2:  # the usual message: only the event field
        return {flat[0]: flat[1]}
    values = iter(flat)
    return dict(zip(values, values, strict=True))


def encode_event(event: BaseEvent) -> bytes:
    from claire.events.codec import canonical_bytes

    data = canonical_bytes(event)
    if len(data) > MAX_EVENT_BYTES:
        raise EventTooLargeError(len(data))
    return data


def decode_message(fields: dict[bytes, bytes]) -> BaseEvent:
    """The event a stream message carries, validated; EventValidationError says why not."""
    data = fields.get(EVENT_FIELD)
    if data is None:
        names = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
        raise EventValidationError(
            [
                (
                    "message",
                    f"no 'event' field (fields present: {names}); publish with EventPublisher",
                )
            ]
        )
    if len(data) > MAX_EVENT_BYTES:
        raise EventTooLargeError(len(data))
    return parse_event_json(data)


def message_id_ms(message_id: bytes) -> int:
    """The Redis server time (ms) at which a stream entry was added."""
    return int(message_id.split(b"-", 1)[0])
