"""The reader's events equal, field by field, what the former pydantic model made of the same
stored bytes, on a recorded demo session in SQLite and in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.events import PAYLOAD_MODELS, BaseEvent, canonical_bytes, validation
from claire.pipeline import PipelineConfig, record_demo
from claire.store import EventReader, EventStore, open_store
from tests.conftest import throwaway_database

BARS = 1500  # per symbol: about 4,600 events, a snapshot every 500
CONFIG = PipelineConfig().with_overrides({"session.snapshot_every": "500"})
ENVELOPE = (
    "event_id",
    "event_type",
    "sequence_number",
    "timestamp_utc",
    "timestamp_logical",
    "causation_id",
    "correlation_id",
    "payload",
)
METADATA = ("service", "version", "environment", "code_version", "config_hash")


@pytest.fixture(scope="module")
def sqlite_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    path: Path = tmp_path_factory.mktemp("session") / "events.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        record_demo(store, CONFIG, bars_per_symbol=BARS)
        yield store


@pytest.fixture(scope="module")
def postgres_session(pg_admin_url: str, sqlite_session: EventStore) -> Iterator[EventStore]:
    """The same session, copied event by event into PostgreSQL."""
    with throwaway_database(pg_admin_url, "session") as url, open_store(url, create=True) as store:
        for start in range(0, sqlite_session.head().sequence_number, 1000):
            page = list(sqlite_session.read(start + 1, start + 1000))
            store.append([e.model_copy(update={"sequence_number": None}) for e in page])
        yield store


def former(canonical: bytes, sequence: int) -> validation.BaseEvent:
    """What the reader returned before: the pydantic model of the same bytes."""
    return validation.BaseEvent.model_validate(
        {**orjson.loads(canonical), "sequence_number": sequence}
    )


def same(new: Any, old: Any, where: str) -> None:
    assert (type(new), new) == (type(old), old), where


@pytest.mark.parametrize("adapter", ["sqlite", "postgres"])
def test_reader_output_equals_the_former_model_field_by_field(
    adapter: str, request: pytest.FixtureRequest
) -> None:
    store: EventStore = request.getfixturevalue(f"{adapter}_session")
    records = list(store.iter_records())
    assert len(records) > 4000
    read = list(EventReader(store).read_events())
    paged = list(store.read(batch_size=700))  # many pages: read ahead on a thread
    assert paged == read
    kinds = set()
    for event, record in zip(read, records, strict=True):
        old = former(record.canonical, record.sequence_number)
        where = f"{adapter} sequence {record.sequence_number}"
        assert isinstance(event, BaseEvent)
        for name in ENVELOPE:
            same(getattr(event, name), getattr(old, name), f"{where} {name}")
        for name in METADATA:
            same(getattr(event.metadata, name), getattr(old.metadata, name), f"{where} {name}")
        assert event.timestamp_utc.utcoffset() == old.timestamp_utc.utcoffset()
        assert event.data == PAYLOAD_MODELS[old.event_type].model_validate(old.payload), where
        assert canonical_bytes(event) == record.canonical, where
        kinds.add(event.event_type)
    assert len(kinds) >= 6  # market data, signals, decisions, orders, fills, snapshots, ...
