"""The PostgreSQL schema as people use it from psql: immutability, audit functions, migrations."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from claire.errors import StoreError
from claire.events import BaseEvent
from claire.store import EventStore, open_store
from claire.store.postgres import PostgresEventStore
from claire.store.sql import migrations
from rigs.factories import START, trade

CLAIRE = str(Path(sys.executable).with_name("claire"))
MIGRATIONS = [name for name, _ in migrations("postgres")]


@pytest.fixture
def store(pg_url: str) -> Iterator[EventStore]:
    with open_store(pg_url, create=True) as store:
        yield store


@pytest.fixture
def stored_trade(store: EventStore) -> list[BaseEvent]:
    events = trade()
    store.append(events)
    return events


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


@pytest.mark.parametrize("replication_role", ["origin", "replica"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET payload = '{}'::jsonb WHERE sequence_number = 1",
        "DELETE FROM events WHERE sequence_number = 5",
        "TRUNCATE events CASCADE",
    ],
)
def test_events_are_immutable(
    pg_url: str, stored_trade: list[BaseEvent], statement: str, replication_role: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"SET session_replication_role = {replication_role}")
        with pytest.raises(psycopg.Error, match="Events are immutable"):
            conn.execute(statement)
    assert sql(pg_url, "SELECT count(*), min(payload->>'price') FROM events") == [(5, "50000.0")]


def test_get_causation_chain_root_first(pg_url: str, stored_trade: list[BaseEvent]) -> None:
    md, sig, risk, *_ = stored_trade
    rows = sql(
        pg_url,
        "SELECT depth, event_id, event_type, sequence_number FROM get_causation_chain(%s)",
        risk.event_id,
    )
    assert rows == [
        (0, md.event_id, "market_data", 1),
        (1, sig.event_id, "signal_generated", 2),
        (2, risk.event_id, "risk_decision", 3),
    ]
    assert sql(pg_url, "SELECT * FROM get_causation_chain(gen_random_uuid())") == []


def test_get_correlation_events(pg_url: str, store: EventStore) -> None:
    first, second = trade(), trade()
    store.append(first + second)
    rows = sql(
        pg_url,
        "SELECT event_id, sequence_number FROM get_correlation_events(%s)",
        second[0].correlation_id,
    )
    assert rows == [(e.event_id, n) for n, e in enumerate(second, start=6)]


def test_explain_decision(pg_url: str, stored_trade: list[BaseEvent]) -> None:
    md, sig, risk, *_ = stored_trade
    [(explained,)] = sql(pg_url, "SELECT explain_decision(%s)", risk.event_id)
    assert set(explained) == {"decision", "signal", "market_data", "chain", "verified"}
    assert explained["verified"] is True
    assert all(e["verified"] is True and e["problem"] is None for e in explained["chain"])
    assert explained["decision"]["event_id"] == str(risk.event_id)
    assert explained["decision"]["payload"]["approved"] is True
    assert explained["signal"]["event_id"] == str(sig.event_id)
    assert explained["signal"]["payload"]["confidence"] == "0.85"
    assert explained["market_data"]["event_id"] == str(md.event_id)
    assert explained["market_data"]["payload"]["price"] == "50000.0"
    assert [e["event_type"] for e in explained["chain"]] == [
        "market_data",
        "signal_generated",
        "risk_decision",
    ]
    assert sql(pg_url, "SELECT explain_decision(gen_random_uuid())") == [(None,)]


def test_get_event_stats(pg_url: str, stored_trade: list[BaseEvent]) -> None:
    rows = sql(pg_url, "SELECT event_type, event_count, last_event FROM get_event_stats()")
    assert [(t, n) for t, n, _ in rows] == [
        ("market_data", 1),
        ("order_request", 1),
        ("order_result", 1),
        ("risk_decision", 1),
        ("signal_generated", 1),
    ]
    assert dict((t, last) for t, _, last in rows)["order_result"] == START + timedelta(seconds=4)
    windowed = sql(
        pg_url,
        "SELECT event_type FROM get_event_stats(%s, %s)",
        START + timedelta(seconds=1),
        START + timedelta(seconds=3),
    )
    assert windowed == [("risk_decision",), ("signal_generated",)]


def test_migrate_is_idempotent(pg_url: str, stored_trade: list[BaseEvent]) -> None:
    with PostgresEventStore(pg_url) as again:
        assert again.migrate() == MIGRATIONS
        assert again.migrate() == MIGRATIONS
        assert again.head().sequence_number == 5
    assert [r[0] for r in sql(pg_url, "SELECT name FROM claire_schema_migrations")] == MIGRATIONS


def test_claire_db_migrate_command_twice(pg_url: str) -> None:
    for _ in range(2):
        done = subprocess.run(
            [CLAIRE, "db", "migrate", "--database-url", pg_url, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert '"002_audit_functions.sql"' in done.stdout
    assert sql(pg_url, "SELECT count(*) FROM claire_schema_migrations") == [(len(MIGRATIONS),)]


def open_and_close(url: str) -> None:
    PostgresEventStore(url, create=True).close()


def test_concurrent_first_opens_migrate_once(pg_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=open_and_close, args=(pg_url,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert sql(pg_url, "SELECT count(*) FROM claire_schema_migrations") == [(len(MIGRATIONS),)]


def test_an_edited_applied_migration_is_refused(pg_url: str, store: EventStore) -> None:
    sql(pg_url, "UPDATE claire_schema_migrations SET checksum = 'x' WHERE name = %s", MIGRATIONS[0])
    with pytest.raises(StoreError, match=f"migration {MIGRATIONS[0]} changed"):
        store.migrate()


SEQUENCE_INDEXES = """
SELECT indexname, indexdef LIKE 'CREATE UNIQUE INDEX%%' FROM pg_indexes
WHERE tablename = 'events' AND indexdef LIKE '%%(sequence_number)'
"""


def test_one_index_on_sequence_number_also_after_upgrading(
    pg_url: str, stored_trade: list[BaseEvent]
) -> None:
    assert sql(pg_url, SEQUENCE_INDEXES) == [("events_sequence_number_key", True)]
    # A store migrated before 004 still has the seed's duplicate index: 004 drops it.
    sql(pg_url, "CREATE INDEX idx_events_sequence ON events(sequence_number)")
    sql(pg_url, "DELETE FROM claire_schema_migrations WHERE name = '004_one_sequence_index.sql'")
    with PostgresEventStore(pg_url, create=True) as store:  # upgrades it
        assert [e.sequence_number for e in store.read()] == [1, 2, 3, 4, 5]
    assert sql(pg_url, SEQUENCE_INDEXES) == [("events_sequence_number_key", True)]
