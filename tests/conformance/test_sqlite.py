from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from claire.store import EventStore, open_store
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.factories import trade


class TestSqliteStore(StoreConformance, TimelineConformance):
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
