"""Opening a PostgreSQL store: its schema is checked, and changed only when asked.

`check(url)` reads the applied migrations and refuses a database that is not a Claire store or
whose schema is older or newer than this code; it never writes. `migrate(url)` applies the
missing migrations under an advisory lock, and only to an empty database (no tables, views or
sequences of anyone else's in any schema) or one that is already a Claire store.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from claire.errors import StoreError, StoreUnavailableError
from claire.redact import redact_text, redact_url
from claire.store.schema import MIGRATIONS_TABLE, check_schema, known_migrations, not_a_store

Connection = psycopg.Connection[tuple[Any, ...]]

MIGRATE_LOCK_KEY = 0x436C_6169_7265_02  # "Claire" + 2, fixed forever (appends use + 1)

CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE {MIGRATIONS_TABLE} (
    name       TEXT PRIMARY KEY,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
# Relations of anyone but PostgreSQL itself and its extensions: in a database that has any, and
# no migrations table, Claire creates nothing.
FOREIGN_RELATIONS = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
LIMIT 6
"""


def describe(url: str) -> str:
    """`PostgreSQL database NAME on HOST:PORT`: never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "the PostgreSQL database"
    name, host, port = parts.get("dbname"), parts.get("host"), parts.get("port")
    return f"PostgreSQL database {name or '(default)'} on {host or 'localhost'}:{port or 5432}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(url: str) -> Connection:
    """One autocommit connection outside the pool (schema work, or before the pool opens)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {redact_text(first_line(exc))}"
        ) from exc
    except psycopg.ProgrammingError as exc:  # libpq cannot parse the connection string
        raise StoreError(
            f"invalid PostgreSQL connection string {redact_url(url)!r}: "
            f"{redact_text(first_line(exc))}"
        ) from None


def applied_migrations(conn: Connection) -> dict[str, str] | None:
    """name -> checksum, or None when the migrations table does not exist."""
    row = conn.execute(f"SELECT to_regclass('{MIGRATIONS_TABLE}') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return None
    return dict(conn.execute(f"SELECT name, checksum FROM {MIGRATIONS_TABLE}").fetchall())


def foreign_relations(conn: Connection) -> list[str]:
    return [name for (name,) in conn.execute(FOREIGN_RELATIONS).fetchall()]


def check(url: str) -> None:
    """Raise StoreSchemaError unless the database is a Claire store of this code's schema."""
    where = describe(url)
    with connect(url) as conn:
        try:
            applied = applied_migrations(conn)
            if applied is None:
                raise not_a_store(where, foreign_relations(conn))
        except psycopg.Error as exc:
            raise StoreError(f"{where}: cannot read the schema version: {first_line(exc)}") from exc
    check_schema(where, applied, known_migrations("postgres"))


def migrate(url: str) -> list[str]:
    """Apply the missing migrations, each once, in one transaction under an advisory lock (so
    concurrent first opens migrate once). Returns every known migration's name."""
    where = describe(url)
    known = known_migrations("postgres")
    with connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK_KEY,))
                applied = applied_migrations(conn)
                if applied is None:
                    foreign = foreign_relations(conn)
                    if foreign:
                        raise not_a_store(where, foreign)
                    conn.execute(CREATE_MIGRATIONS_TABLE)
                    applied = {}
                for migration in check_schema(where, applied, known, migrating=True):
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        f"INSERT INTO {MIGRATIONS_TABLE} (name, checksum) VALUES (%s, %s)",
                        (migration.name, migration.checksum),
                    )
        except psycopg.Error as exc:
            raise StoreError(f"{where}: migration failed: {first_line(exc)}") from exc
    return [m.name for m in known]


__all__ = ["MIGRATE_LOCK_KEY", "check", "connect", "describe", "first_line", "migrate"]
