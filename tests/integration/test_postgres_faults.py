"""Lost PostgreSQL connections: appends are retried and nothing is stored twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from claire.errors import ConcurrencyError, StoreUnavailableError
from claire.store import EventStore, open_store
from claire.store.postgres import APPEND_LOCK_KEY, PostgresEventStore
from rigs.factories import trade

WAITING_APPENDS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
)


@pytest.fixture
def store(pg_url: str) -> Iterator[EventStore]:
    with open_store(pg_url, create=True) as store:
        yield store


def kill_other_backends(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return len(rows)


def wait_for_waiting_append(
    conn: psycopg.Connection[tuple[object, ...]], other_than: int | None = None
) -> int:
    for _ in range(1000):
        pids = [int(str(r[0])) for r in conn.execute(WAITING_APPENDS).fetchall()]
        pids = [p for p in pids if p != other_than]
        if pids:
            return pids[0]
        time.sleep(0.01)
    raise AssertionError("the append never waited for the lock")


def test_append_killed_mid_transaction_is_retried_once(pg_url: str, store: EventStore) -> None:
    store.append(trade())
    events = trade()
    result: list[list[int]] = []
    with psycopg.connect(pg_url, autocommit=True) as admin, psycopg.connect(pg_url) as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
        writer = threading.Thread(target=lambda: result.append(store.append(events)))
        writer.start()
        victim = wait_for_waiting_append(admin)
        admin.execute("SELECT pg_terminate_backend(%s)", (victim,))
        # The retry waits for the lock again on a new connection; then let it through.
        wait_for_waiting_append(admin, other_than=victim)
        blocker.commit()
        writer.join(timeout=30)
    assert result == [[6, 7, 8, 9, 10]]
    assert store.head().sequence_number == 10
    assert [e.event_id for e in store.read(6)] == [e.event_id for e in events]


def test_idle_connections_killed_between_appends(pg_url: str, store: EventStore) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for round_number in range(3):
            store.append(trade())
            assert kill_other_backends(admin) >= 1
            assert store.head().sequence_number == 5 * (round_number + 1)
    assert len({e.event_id for e in store.read()}) == 15


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot connect to PostgreSQL"):
        open_store("postgresql://postgres@127.0.0.1:1/nothing")


def test_a_conditional_append_whose_answer_was_lost_is_answered_on_retry(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commit reached the server, the connection died before the answer: the store retries,
    # finds the head moved by the batch itself, and answers it as the repeat it is (never a
    # ConcurrencyError for an append that succeeded).
    committed: list[list[int]] = []
    original = PostgresEventStore._append_transaction

    def answer_lost(self: PostgresEventStore, *args: Any, **kwargs: Any) -> list[int]:
        numbers = original(self, *args, **kwargs)
        committed.append(numbers)
        if len(committed) == 1:
            raise psycopg.OperationalError("server closed the connection (after the commit)")
        return numbers

    with PostgresEventStore(pg_url, create=True) as store:
        store.append(trade())
        monkeypatch.setattr(PostgresEventStore, "_append_transaction", answer_lost)
        events = trade()
        assert store.append(events, expected_sequence=5) == [6, 7, 8, 9, 10]
        assert committed == [[6, 7, 8, 9, 10], [6, 7, 8, 9, 10]]
        assert store.head().sequence_number == 10
        with pytest.raises(ConcurrencyError):  # a new batch against the old head is refused
            store.append(trade(), expected_sequence=5)
