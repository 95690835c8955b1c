"""Pruning on PostgreSQL (migration 010, docs/archive.md "PostgreSQL: what we chose"): a store
that already holds events is converted and keeps its chain, reads and appends; the database
itself refuses a prune it cannot vouch for and every DELETE outside one; the SQL audit functions
keep working on what is left. (Seal -> prune -> same answers, and the guards after a prune, run
on both adapters in test_archive_prune.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from claire.archive.location import open_location
from claire.archive.prune import prune
from claire.archive.seal import seal
from claire.audit.keys import TrustedKey, public_hex
from claire.audit.verify import verify_log
from claire.errors import StoreError
from claire.events import EventType
from claire.store import open_store, postgres_schema
from claire.store.postgres import PostgresEventStore
from claire.store.schema import Migration, known_migrations
from rigs.factories import factory, trade
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key
from tests.integration.test_privileges import WRITER, as_user

PRUNE_MIGRATION = "010_archive_prune.sql"


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement.encode(), params)
        return cursor.fetchall() if cursor.description else []


def before_pruning(dialect: str) -> list[Migration]:
    return [m for m in known_migrations(dialect) if m.name < PRUNE_MIGRATION]


def test_a_store_with_events_is_converted(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made and filled at the schema before 010 (the seed's self-referencing causation
    key, no event_ids) is migrated: same chain, same reads, appends go on, and it prunes."""
    with monkeypatch.context() as old_code:
        old_code.setattr(postgres_schema, "known_migrations", before_pruning)
        with PostgresEventStore(pg_url, create=True) as old:
            record_small_demo(old)
            head = old.head()
            before = [(e.sequence_number, e.event_id) for e in old.read()]
    assert sql(pg_url, "SELECT to_regclass('event_ids') IS NULL") == [(True,)]
    with PostgresEventStore(pg_url, create=True) as store:
        applied = sql(pg_url, "SELECT name FROM claire_schema_migrations ORDER BY name")
        assert [name for (name,) in applied] == [m.name for m in known_migrations("postgres")]
        assert store.head() == head
        assert [(e.sequence_number, e.event_id) for e in store.read()] == before
        report = verify_log(store)
        assert (report.ok, report.checked) == (True, head.sequence_number)
        assert sql(pg_url, "SELECT count(*), max(sequence_number) FROM event_ids") == [
            (head.sequence_number, head.sequence_number)
        ]
        cause = next(iter(store.read(3, 3)))
        effect = factory().create_alert(
            level="INFO",
            code="after_conversion",
            message="caused by an event stored before the migration",
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )
        more = [*trade(), effect]
        assert store.append(more) == list(range(head.sequence_number + 1, head.sequence_number + 7))
        assert store.append(more[0]) == [head.sequence_number + 1]  # idempotent as before
        with PostgresEventStore(as_user(pg_url, WRITER)) as writer:  # least privilege still
            assert writer.append(trade())[0] == head.sequence_number + 7
        assert verify_log(store).ok
        key = write_key(tmp_path / "key.pem")
        archive = open_location(str(tmp_path / "archive"))
        seal(store, archive, 1000, key, segment_events=SEGMENT)
        prune(store, archive, 1000, TrustedKey(public_hex(key), "test"))
        assert store.pruned_through() == 1000
    assert sql(pg_url, "SELECT min(sequence_number) FROM events") == [(1001,)]


@pytest.fixture
def pruned(pg_url: str, tmp_path: Path) -> dict[str, Any]:
    """A small demo log sealed through 1000 and pruned through 900."""
    key = write_key(tmp_path / "key.pem")
    archive = open_location(str(tmp_path / "archive"))
    with open_store(pg_url, create=True) as store:
        record_small_demo(store)
        seal(store, archive, 1000, key, segment_events=SEGMENT)
        prune(store, archive, 900, TrustedKey(public_hex(key), "test"))
        head = store.head()
        decision = store.find_events(event_types=[EventType.RISK_DECISION], from_sequence=901)[0]
    return {"url": pg_url, "head": head, "decision": decision}


def hash_at(url: str, sequence: int) -> str:
    return str(sql(url, "SELECT hash FROM events WHERE sequence_number = %s", (sequence,))[0][0])


def test_the_database_refuses_a_prune_it_cannot_vouch_for(pruned: dict[str, Any]) -> None:
    url, head = pruned["url"], pruned["head"]
    with PostgresEventStore(url) as store:  # the same prune again (a retry) is done already
        store.prune(900, str(sql(url, "SELECT hash FROM claire_pruned")[0][0]), None)
        with pytest.raises(StoreError, match="prune failed: cannot prune through 800"):
            store.prune(800, hash_at(url, 901), None)
        assert store.pruned_through() == 900
    refusals = [
        ((800, "0" * 64), "pruned through 900 already"),
        ((950, "0" * 64), "cannot prune through 950: its hash is"),
        ((head.sequence_number, head.hash), "the head"),
    ]
    for (through, hashed), message in refusals:
        with pytest.raises(psycopg.errors.RestrictViolation, match=message):
            sql(url, "SELECT claire_prune(%s, %s, NULL)", (through, hashed))
    # Rows leave only at or below the boundary the same transaction moved.
    with psycopg.connect(url) as conn:
        conn.execute("SELECT claire_prune(%s, %s, NULL)", (950, hash_at(url, 950)))
        with pytest.raises(psycopg.errors.RestrictViolation, match="Events are immutable"):
            conn.execute("DELETE FROM events WHERE sequence_number = 951")
        conn.rollback()
    # The boundary moved without claire_prune is held to the same checks, and a DELETE in a
    # later transaction is refused even below it.
    sql(url, "UPDATE claire_pruned SET through = 950, hash = %s", (hash_at(url, 950),))
    with pytest.raises(psycopg.errors.RestrictViolation, match="Events are immutable"):
        sql(url, "DELETE FROM events WHERE sequence_number = 901")
    assert sql(url, "SELECT min(sequence_number), max(sequence_number) FROM events") == [
        (901, head.sequence_number)
    ]
    with pytest.raises(psycopg.errors.RestrictViolation, match="only claire_prune"):
        sql(url, "INSERT INTO claire_pruned VALUES (2, 1, 'x', NULL, pg_current_xact_id())")


def test_the_writer_role_cannot_prune(pruned: dict[str, Any]) -> None:
    url = pruned["url"]
    writer = as_user(url, WRITER)
    through, hashed = 950, hash_at(url, 950)
    for statement, params in (
        ("SELECT claire_prune(%s, %s, NULL)", (through, hashed)),
        ("UPDATE claire_pruned SET through = %s, hash = %s", (through, hashed)),
        ("DELETE FROM events WHERE sequence_number <= %s", (through,)),
        ("INSERT INTO event_ids VALUES (gen_random_uuid(), %s)", (through,)),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            sql(writer, statement, params)
    with PostgresEventStore(writer) as store:
        assert store.pruned_through() == 900
        with pytest.raises(StoreError, match=r"prune failed: permission denied.*writer"):
            store.prune(through, hashed, None)
        assert store.append(trade())[0] == pruned["head"].sequence_number + 1
    assert sql(url, "SELECT min(sequence_number) FROM events") == [(901,)]


def test_the_sql_audit_functions_work_on_what_is_left(pruned: dict[str, Any]) -> None:
    url, decision = pruned["url"], pruned["decision"]
    chain = sql(
        url,
        "SELECT sequence_number, verified FROM get_causation_chain(%s)",
        (decision.event_id,),
    )
    assert chain and chain[-1] == (decision.sequence_number, True)
    assert all(sequence > 900 for sequence, _ in chain)  # the hot part of the chain
    assert all(verified for _, verified in chain)
    explained = sql(url, "SELECT explain_decision(%s)", (decision.event_id,))[0][0]
    assert explained["decision"]["event_id"] == str(decision.event_id)
    assert sql(url, "SELECT event_problem(e) FROM events e WHERE sequence_number = 901") == [
        (None,)
    ]
    stats = sql(url, "SELECT sum(event_count) FROM get_event_stats()")
    assert stats == [(pruned["head"].sequence_number - 900,)]
