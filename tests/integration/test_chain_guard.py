"""The database enforces the hash chain (issue 11 §5): a raw INSERT that skips the application
(as PostgreSQL's writer role, or a SQLite client) is refused when its sequence number, prev_hash
or hash does not continue the head, with the expected value named; a good one is accepted. The
guard compares with the head, so it keeps working when the oldest rows are archived away."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from claire.events.codec import GENESIS_HASH
from claire.store import EventStore, Head, open_store
from claire.store.port import Batch, Row, plan_append
from claire.store.sqlite_schema import register_functions
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_privileges import WRITER, as_user

COLUMNS = (
    "event_id, event_type, sequence_number, timestamp_utc, timestamp_logical, causation_id,"
    " correlation_id, metadata, payload, prev_hash, hash, canonical"
)
PG_INSERT = (
    f"INSERT INTO events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb,"
    " %s, %s, %s)"
)
SQLITE_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def next_rows(store: EventStore, count: int = 1) -> list[Row]:
    """Rows that continue the store's head, planned as the application would."""
    events = trade(factory("raw-client"))[:count]
    return plan_append(Batch.of(events), store.head(), {}, set()).rows


def values(row: Row) -> tuple[Any, ...]:
    doc = row.document
    return (
        doc["event_id"],
        doc["event_type"],
        row.sequence_number,
        doc["timestamp_utc"],
        doc["timestamp_logical"],
        doc["causation_id"],
        doc["correlation_id"],
        orjson.dumps(doc["metadata"]).decode(),
        orjson.dumps(doc["payload"]).decode(),
        row.prev_hash,
        row.hash,
        row.canonical,
    )


def wrong_sequence(row: Row) -> Row:
    return dataclasses.replace(row, sequence_number=row.sequence_number + 5)


def wrong_prev_hash(row: Row) -> Row:
    return dataclasses.replace(row, prev_hash="ab" * 32)


def wrong_hash(row: Row) -> Row:
    return dataclasses.replace(row, hash="cd" * 32)


# --- PostgreSQL ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_store(pg_admin_url: str) -> Iterator[tuple[str, EventStore]]:
    """Migrated by the administrator, one trade stored; raw clients connect as the writer."""
    with throwaway_database(pg_admin_url, "guard") as url, open_store(url, create=True) as store:
        store.append(trade())
        yield url, store


def pg_insert(url: str, *rows: Row) -> None:
    with psycopg.connect(as_user(url, WRITER)) as conn, conn.cursor() as cur:
        cur.executemany(PG_INSERT, [values(r) for r in rows])


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        (wrong_sequence, "chain guard: sequence_number {bad} refused: expected {seq}"),
        (wrong_prev_hash, "prev_hash of sequence_number {seq} refused: expected {prev}"),
        (wrong_hash, "hash of sequence_number {seq} refused: expected {hash}"),
    ],
    ids=["sequence", "prev_hash", "hash"],
)
def test_postgres_refuses_a_raw_insert_that_breaks_the_chain(
    pg_store: tuple[str, EventStore], forge: Any, expected: str
) -> None:
    url, store = pg_store
    [good] = next_rows(store)
    bad = forge(good)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as refused:
        pg_insert(url, bad)
    message = str(refused.value).splitlines()[0]
    assert (
        expected.format(
            bad=bad.sequence_number, seq=good.sequence_number, prev=good.prev_hash, hash=good.hash
        )
        in message
    ), message
    assert store.head().sequence_number == good.sequence_number - 1


def test_postgres_accepts_a_good_raw_insert_and_checks_a_copy_batch_at_once(
    pg_store: tuple[str, EventStore],
) -> None:
    url, store = pg_store
    rows = next_rows(store, 3)
    pg_insert(url, rows[0])  # the writer, skipping the application, but right
    assert store.head() == Head(rows[0].sequence_number, rows[0].hash)
    rows = next_rows(store, 3)
    broken = [rows[0], wrong_prev_hash(rows[1]), rows[2]]
    with (
        pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="prev_hash of sequence"),
        psycopg.connect(as_user(url, WRITER)) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy,
    ):
        for row in broken:
            copy.write_row(values(row))
    assert store.head().sequence_number == rows[0].sequence_number - 1  # none of the three
    assert store.append(trade())[-1] == rows[0].sequence_number + 4  # the application goes on


def test_postgres_guard_survives_archived_oldest_rows(pg_admin_url: str) -> None:
    """The archive drops the oldest rows: the guard compares with the head, never with row 1,
    and refuses a row slipped in below the head (sequence 1 again, with the genesis hash)."""
    with (
        throwaway_database(pg_admin_url, "guard_archive") as url,
        open_store(url, create=True) as s,
    ):
        s.append(trade())
        with psycopg.connect(url, autocommit=True) as conn:  # as an archiver would, as the owner
            conn.execute("SET session_replication_role = replica")  # row 4 names row 3 its cause
            conn.execute("ALTER TABLE events DISABLE TRIGGER events_immutable_delete")
            conn.execute("DELETE FROM events WHERE sequence_number <= 3")
            conn.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_delete")
        first = plan_append(Batch.of(trade()[:1]), Head(0, GENESIS_HASH), {}, set()).rows[0]
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="expected 6"):
            pg_insert(url, first)
        assert s.append(trade()) == [6, 7, 8, 9, 10]


# --- SQLite --------------------------------------------------------------------------------
@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Path, EventStore]]:
    path = tmp_path / "events.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        store.append(trade())
        yield path, store


def raw_sqlite(path: Path, *, functions: bool = True) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    if functions:
        register_functions(db)
    return db


def test_sqlite_client_without_claires_functions_cannot_insert(
    sqlite_store: tuple[Path, EventStore],
) -> None:
    path, store = sqlite_store
    [good] = next_rows(store)
    db = raw_sqlite(path, functions=False)
    with pytest.raises(sqlite3.OperationalError, match="no such function: claire_chain_hash"):
        db.execute(SQLITE_INSERT, values(good))
    assert db.execute("SELECT count(*) FROM events").fetchone() == (5,)  # reading works


@pytest.mark.parametrize(
    ("forge", "rule"),
    [
        (wrong_sequence, "chain guard: sequence_number must be the head's sequence_number + 1"),
        (wrong_prev_hash, "chain guard: prev_hash must be the head's hash"),
        (wrong_hash, "chain guard: hash must be SHA-256(prev_hash || canonical)"),
    ],
    ids=["sequence", "prev_hash", "hash"],
)
def test_sqlite_refuses_a_raw_insert_that_breaks_the_chain(
    sqlite_store: tuple[Path, EventStore], forge: Any, rule: str
) -> None:
    path, store = sqlite_store
    [good] = next_rows(store)
    db = raw_sqlite(path)
    with pytest.raises(sqlite3.IntegrityError) as refused:
        db.execute(SQLITE_INSERT, values(forge(good)))
    assert str(refused.value).startswith(rule), refused.value
    db.execute(SQLITE_INSERT, values(good))
    assert store.head() == Head(good.sequence_number, good.hash)


def test_sqlite_guard_survives_archived_oldest_rows(sqlite_store: tuple[Path, EventStore]) -> None:
    path, store = sqlite_store
    db = raw_sqlite(path)
    db.execute("DROP TRIGGER events_immutable_delete")
    db.execute("DELETE FROM events WHERE sequence_number <= 3")
    first = plan_append(Batch.of(trade()[:1]), Head(0, GENESIS_HASH), {}, set()).rows[0]
    with pytest.raises(sqlite3.IntegrityError, match="sequence_number must be"):
        db.execute(SQLITE_INSERT, values(first))
    assert store.append(trade()) == [6, 7, 8, 9, 10]
