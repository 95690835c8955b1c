"""Least privilege in PostgreSQL: what the writer and reader roles may do, with the errors a user
sees, and a migration that is idempotent and safe when the cluster-wide roles already exist."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from claire.audit.verify import verify_log
from claire.errors import StoreError
from claire.store.postgres import PostgresEventStore
from rigs.factories import trade

OWNER, WRITER, READER = "claire_owner", "claire_writer", "claire_reader"


def as_user(url: str, user: str, database: str | None = None) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=f"{user}@{host}", path=path))


def run(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def migrated(pg_admin_url: str) -> Iterator[str]:
    """One database for the module (creating one costs seconds here), migrated by the
    administrator (superuser) and holding one trade. Tests leave it as they found it."""
    name = f"claire_test_priv_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = as_user(pg_admin_url, "postgres", name)
    try:
        with PostgresEventStore(url, create=True) as store:
            store.append(trade())
        yield url
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def test_roles_exist_with_the_right_shape(migrated: str) -> None:
    rows = run(
        migrated,
        "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole FROM pg_roles"
        " WHERE rolname LIKE 'claire\\_%' AND rolname IN ('claire_owner','claire_writer',"
        "'claire_reader') ORDER BY rolname",
    )
    assert rows == [
        (OWNER, False, False, False),
        (READER, True, False, False),
        (WRITER, True, False, False),
    ]
    owners = run(
        migrated,
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema()"
        " ORDER BY tablename",
    )
    assert owners == [
        ("claire_pruned", OWNER),
        ("claire_schema_migrations", OWNER),
        ("event_ids", OWNER),
        ("events", OWNER),
    ]
    privileges = run(
        migrated,
        "SELECT table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.role_table_grants"
        " WHERE table_name IN ('events', 'event_ids', 'claire_pruned')"
        " AND grantee IN ('claire_writer', 'claire_reader') GROUP BY 1, 2 ORDER BY 1, 2",
    )
    # The writer reads event_ids (duplicates, archived causes) but never writes it: the
    # remembering trigger does, as the owner (migration 010). Nobody else may prune.
    assert privileges == [
        ("claire_pruned", READER, "SELECT"),
        ("claire_pruned", WRITER, "SELECT"),
        ("event_ids", WRITER, "SELECT"),
        ("events", READER, "SELECT"),
        ("events", WRITER, "INSERT,SELECT"),
    ]
    definers = run(
        migrated,
        "SELECT proname, pg_get_userbyid(proowner), prosecdef FROM pg_proc"
        " WHERE proname IN ('events_remember_ids', 'claire_prune') ORDER BY 1",
    )
    assert definers == [("claire_prune", "postgres", False), ("events_remember_ids", OWNER, True)]
    callers = run(
        migrated,
        "SELECT has_function_privilege('claire_writer', 'claire_prune(bigint,text,text)',"
        " 'EXECUTE'), has_function_privilege('claire_reader', 'claire_prune(bigint,text,text)',"
        " 'EXECUTE')",
    )
    assert callers == [(False, False)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET payload = '{}'::jsonb WHERE sequence_number = 1",
        "DELETE FROM events WHERE sequence_number = 5",
        "TRUNCATE events",
    ],
)
def test_writer_cannot_change_or_remove_events(migrated: str, statement: str) -> None:
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="permission denied for table events"
    ):
        run(as_user(migrated, WRITER), statement)
    assert run(migrated, "SELECT count(*) FROM events") == [(5,)]


def test_writer_cannot_get_around_the_triggers(migrated: str) -> None:
    writer = as_user(migrated, WRITER)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table events"):
        run(writer, "ALTER TABLE events DISABLE TRIGGER ALL")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="session_replication_role"):
        run(writer, "SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="claire_schema_migrations"):
        run(writer, "DELETE FROM claire_schema_migrations")


def test_even_the_table_owner_meets_the_triggers(migrated: str) -> None:
    """The administrator (superuser, or anyone acting as claire_owner) is stopped by the
    triggers, replica mode included; only disabling them works, and that the chain reveals."""
    with pytest.raises(psycopg.errors.RestrictViolation, match="Events are immutable"):
        run(migrated, "SET ROLE claire_owner; DELETE FROM events WHERE sequence_number = 5")
    with pytest.raises(psycopg.errors.RestrictViolation, match="Events are immutable"):
        run(
            migrated,
            "SET session_replication_role = replica;"
            " UPDATE events SET payload = '{}'::jsonb WHERE sequence_number = 1",
        )


def test_writer_appends_and_reads_through_the_store(pg_url: str) -> None:
    with PostgresEventStore(pg_url, create=True) as admin:
        admin.append(trade())
    with PostgresEventStore(as_user(pg_url, WRITER)) as store:
        assert store.append(trade()) == [6, 7, 8, 9, 10]
        assert len(list(store.read())) == 10
        assert verify_log(store).ok


def test_reader_reads_but_cannot_insert(migrated: str) -> None:
    reader = as_user(migrated, READER)
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="permission denied for table events"
    ):
        run(reader, "INSERT INTO events SELECT * FROM events LIMIT 1")
    with PostgresEventStore(reader) as store:
        report = verify_log(store)
        assert (report.ok, report.checked) == (True, 5)
        with pytest.raises(StoreError, match="permission denied for table events"):
            store.append(trade())
        assert store.head().sequence_number == 5


def test_migration_is_idempotent_and_safe_in_parallel(pg_admin_url: str) -> None:
    """Roles are cluster-wide and already exist after the first database: fresh databases
    migrated at the same moment must all succeed and all get the grants."""
    names = [f"claire_test_roles_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    errors: list[BaseException] = []

    def migrate(name: str) -> None:
        try:
            with PostgresEventStore(as_user(pg_admin_url, "postgres", name), create=True) as store:
                store.migrate()  # a second run is a no-op
        except BaseException as exc:
            errors.append(exc)

    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        threads = [threading.Thread(target=migrate, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for name in names:
            url = as_user(pg_admin_url, "postgres", name)
            assert run(url, "SELECT tableowner FROM pg_tables WHERE tablename = 'events'") == [
                (OWNER,)
            ]
            assert run(url, "SELECT has_table_privilege('claire_writer', 'events', 'INSERT')") == [
                (True,)
            ]
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def unprivileged_database(pg_admin_url: str) -> Iterator[str]:
    """A database owned by a login role that may not create roles (a typical hosted setup)."""
    role = f"claire_test_app_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN'.encode())
        conn.execute(f'CREATE DATABASE "{role}" OWNER "{role}"'.encode())
    try:
        yield as_user(pg_admin_url, role, role)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)'.encode())
            conn.execute(f'DROP ROLE IF EXISTS "{role}"'.encode())


def test_migration_without_createrole_skips_gracefully(unprivileged_database: str) -> None:
    with PostgresEventStore(unprivileged_database, create=True) as store:
        store.append(trade())
        assert verify_log(store).ok
    role = urlsplit(unprivileged_database).username
    # The roles exist cluster-wide (an earlier migration made them), so they got their grants,
    # but this role is no member of claire_owner: the tables keep their owner.
    assert run(
        unprivileged_database, "SELECT tableowner FROM pg_tables WHERE tablename = 'events'"
    ) == [(role,)]
    assert run(
        unprivileged_database, "SELECT has_table_privilege('claire_reader', 'events', 'SELECT')"
    ) == [(True,)]
    modes = run(
        unprivileged_database,
        "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'events'::regclass"
        " AND tgname LIKE 'events_immutable_%'",
    )
    assert modes == [("A",), ("A",), ("A",)]


def test_service_appends_as_writer_and_reads_as_reader(pg_url: str) -> None:
    """`claire serve` with DATABASE_URL as the writer and CLAIRE_READ_DATABASE_URL as the
    reader: POST stores through the writer, reads go through the reader's connections."""
    import os

    import orjson

    from claire.events.codec import canonical_document
    from tests.integration.test_api_service import ROOT, WRITE, start_server, stop_server

    with PostgresEventStore(pg_url, create=True):  # the administrator migrates (creates the roles)
        pass
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": as_user(pg_url, WRITER),
        "CLAIRE_READ_DATABASE_URL": as_user(pg_url, READER),
        "CLAIRE_WRITE_TOKEN": WRITE,
    }
    env.pop("CLAIRE_READ_TOKEN", None)
    env.pop("REDIS_URL", None)
    server = start_server(env, "--no-ingest")
    try:
        events = trade()
        with server.client(None) as client:
            posted = client.post(
                "/events",
                content=orjson.dumps([canonical_document(e) for e in events]),
                headers={"Authorization": f"Bearer {WRITE}"},
            )
            assert posted.status_code in (200, 201), posted.text
            read = client.get(f"/events/{events[2].event_id}")
            assert read.status_code == 200, read.text
            assert read.json()["sequence_number"] == 3
        users = {
            row[0]
            for row in run(
                pg_url, "SELECT usename FROM pg_stat_activity WHERE datname = current_database()"
            )
        }
        assert {WRITER, READER} <= users
    finally:
        assert stop_server(server) == 0
