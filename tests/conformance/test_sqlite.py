from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from claire.store import EventStore, open_store
from claire.store.schema import known_migrations
from claire.store.sqlite import SqliteEventStore
from rigs.factories import trade
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.conformance.versions_suite import SchemaVersionConformance


class TestSqliteStore(StoreConformance, TimelineConformance, SchemaVersionConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        with open_store(f"sqlite:///{tmp_path / 'events.db'}", create=True) as store:
            yield store


def test_sqlite_refuses_update_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        store.append(trade())
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="Events are immutable"):
        db.execute("UPDATE events SET payload = '{}' WHERE sequence_number = 1")
    with pytest.raises(sqlite3.IntegrityError, match="Events are immutable"):
        db.execute("DELETE FROM events")
    price = db.execute(
        "SELECT json_extract(payload, '$.price') FROM events WHERE event_type = 'market_data'"
    ).fetchone()
    assert price == ("50000.0",)


def test_sqlite_reopen_keeps_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(trade())
        head = store.head()
    with open_store(url, create=True) as store:
        assert store.head() == head
        assert store.append(trade()) == [6, 7, 8, 9, 10]


def test_sqlite_migrations_are_recorded_once_and_not_rerun_on_open(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    open_store(url, create=True).close()

    def schema() -> tuple[int, list[tuple[str, str, str]]]:
        with sqlite3.connect(path) as db:
            version = db.execute("PRAGMA schema_version").fetchone()[0]
            rows = db.execute("SELECT * FROM claire_schema_migrations ORDER BY name").fetchall()
        return version, rows

    before = schema()
    assert [name for name, _, _ in before[1]] == [m.name for m in known_migrations("sqlite")]
    assert all(
        checksum == m.checksum
        for (_, checksum, _), m in zip(before[1], known_migrations("sqlite"), strict=True)
    )
    for create in (False, True, False):
        open_store(url, create=create).close()
    assert schema() == before  # nothing re-applied, not even an IF NOT EXISTS


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    """Acknowledged means on disk: synchronous=FULL fsyncs the WAL at every commit (NORMAL may
    lose the last commits on a power failure)."""
    with SqliteEventStore(f"sqlite:///{tmp_path / 'events.db'}", create=True) as store:
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
