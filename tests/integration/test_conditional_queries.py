"""The statements a PostgreSQL append sends, with and without a condition (issue 15 §2).

The pipeline's appends are unconditional and their speed matters: a conditional append must
cost them nothing. So, counted rather than timed: an append without expected_* sends exactly
what it sent before (the advisory lock, the head, the insert), `expected_sequence` sends the
same (it compares the head the append reads anyway), and `expected_version` adds one count by
the correlation id's index, inside the same transaction, after the lock.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from claire.events import BaseEvent
from claire.store.postgres import CORRELATION_COUNT, HEAD, PostgresEventStore
from rigs.factories import factory, trade


def alert(correlation_id: uuid.UUID) -> BaseEvent:
    return factory("spied").create_alert(
        level="INFO", code="spied", message="m", correlation_id=correlation_id
    )


def test_only_expected_version_adds_a_statement(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    original = psycopg.Connection.execute
    appending = threading.current_thread()

    def spy(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        # Only the append's own statements: the pool's worker thread may configure a new
        # connection (SET TIME ZONE) at any moment.
        if threading.current_thread() is appending:
            sent.append(query if isinstance(query, str) else repr(query))
        return original(self, query, *args, **kwargs)

    with PostgresEventStore(pg_url, create=True) as store:
        store.append(trade())  # the pool's connection is made and configured
        monkeypatch.setattr(psycopg.Connection, "execute", spy)

        store.append(alert(uuid.uuid4()))
        plain = sent.copy()
        assert plain[0] == "SELECT pg_advisory_xact_lock(%s)"
        assert plain[1] == HEAD
        assert plain[2].startswith("INSERT INTO events")
        assert len(plain) == 3

        sent.clear()
        store.append(alert(uuid.uuid4()), expected_sequence=6)
        assert sent == plain

        sent.clear()
        store.append(alert(uuid.uuid4()), expected_version=0)
        assert sent == [*plain[:2], CORRELATION_COUNT, *plain[2:]]
        with store._pool.connection() as conn:  # the count is answered by the index
            plan = original(conn, f"EXPLAIN {CORRELATION_COUNT}", (uuid.uuid4(),)).fetchall()
        assert "idx_events_correlation_id" in "\n".join(row[0] for row in plan)
