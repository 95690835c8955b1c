"""The peer: the `eventsourcing` library on the same PostgreSQL, the same events.

Two settings: its defaults (the standard-library JSONTranscoder, rows inserted by executemany in
a pipeline), and its fastest documented ones: an orjson transcoder (the one in the library's
own examples, `eventsourcing/examples/aggregate7/persistence.py`) and its PL/pgSQL function for
inserts (`POSTGRES_ENABLE_DB_FUNCTIONS`). Note that with orjson its decoded events carry their
timestamps as text; the default transcoder rebuilds datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Transcoder

from benchmarks.common import Timer
from claire.events import BaseEvent

READ_PAGE = 5000
SETTINGS = {
    "defaults": {},
    "orjson + db functions": {
        "TRANSCODER_TOPIC": "benchmarks.peer:OrjsonTranscoder",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
    },
}


class OrjsonTranscoder(Transcoder):
    """orjson both ways, as in the library's examples (it encodes UUIDs and datetimes itself)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class Ledger(Aggregate):
    @event("Recorded")
    def record(self, payload: dict[str, Any]) -> None:
        """One recorded fact, the same payload our events carry."""


def peer_app(url: str, setting: str) -> Any:
    parts = urlsplit(url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        **SETTINGS[setting],
    }
    return Application(env=env)


def save(app: Any, chunks: Iterable[list[BaseEvent]]) -> tuple[int, float]:
    """Save each chunk as one aggregate (its creation is the chunk's first event); (events, s)."""
    count, seconds = 0, 0.0
    for chunk in chunks:
        ledger = Ledger()
        for item in chunk[1:]:
            ledger.record(item.payload)
        timer = Timer()
        app.save(ledger)
        seconds += timer.seconds
        count += len(chunk)
    return count, seconds


def read_all(app: Any) -> tuple[int, float]:
    """Its notification log, every event decoded into a domain event; (events, seconds)."""
    timer = Timer()
    count, start = 0, 1
    while notifications := app.recorder.select_notifications(start, READ_PAGE):
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id + 1
    return count, timer.seconds
