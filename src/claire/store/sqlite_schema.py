"""Opening a SQLite store, and its versioned migrations.

`connect(path)` opens an existing Claire store and only checks its schema: it never creates the
file or its folder, never migrates and never writes. `connect(path, create=True)` creates a store
in a file that does not exist or an empty database, or upgrades a Claire store (including one
made before migrations were versioned: one `events` table and no migrations table); it refuses
anything else, so another application's database is never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from claire.errors import StoreError, StoreSchemaError, StoreUnavailableError
from claire.events.codec import chain_hash
from claire.store.schema import (
    CREATE_HINT,
    MIGRATIONS_TABLE,
    check_schema,
    known_migrations,
    not_a_store,
)

# Durable commits: with WAL, NORMAL may lose the last commits on a power failure, and every
# commit here is acknowledged to someone (the ingest worker's Redis ack, a 201, a summary).
# FULL fsyncs the WAL at each commit; benchmarks/bench_store.py measures what that costs.
SYNCHRONOUS = "FULL"
BUSY_TIMEOUT_MS = 10_000

# The columns of the events table every Claire SQLite store has had (001_events.sql).
EVENTS_COLUMNS = frozenset(
    {
        "event_id",
        "event_type",
        "sequence_number",
        "timestamp_utc",
        "timestamp_logical",
        "causation_id",
        "correlation_id",
        "metadata",
        "payload",
        "prev_hash",
        "hash",
        "canonical",
    }
)
CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    name       TEXT PRIMARY KEY,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


def path_from_url(url: str) -> str:
    """sqlite:///relative.db, sqlite:////absolute.db or sqlite:///:memory:; percent-encoded
    characters are decoded (sqlite:///my%20db.db is the file `my db.db`)."""
    if not url.startswith("sqlite://"):
        raise StoreError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = unquote(url.removeprefix("sqlite://").removeprefix("/"))
    if not path:
        raise StoreError(f"SQLite URL {url!r} names no file (expected sqlite:///path/to/file.db)")
    return path


def connect(path: str, *, create: bool = False) -> sqlite3.Connection:
    """A configured connection to the Claire store at `path` (see the module's docstring)."""
    where = f"SQLite store {path}"
    memory = path == ":memory:"
    if not create and not memory and not Path(path).exists():
        raise StoreSchemaError(f"no Claire store at {path}: the file does not exist; {CREATE_HINT}")
    try:
        if create and not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target, uri = (path, False) if create or memory else (f"file:{quote(path)}?mode=rw", True)
        db = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailableError(f"cannot open {where}: {exc}") from exc
    try:
        try:
            configure(db)  # reads the file's header: a text file fails here
        except sqlite3.Error as exc:
            raise translate(exc, where, "cannot open it") from exc
        if create or memory:
            migrate(db, where)
        else:
            check(db, where)
    except BaseException:
        db.close()
        raise
    return db


def holds_a_store(path: str) -> bool:
    """True for a Claire store (of any schema version), False for a missing file or an empty
    database; StoreSchemaError for anything else. Opens read-only, changes nothing."""
    if path == ":memory:" or not Path(path).exists():
        return False
    where = f"SQLite file {path}"
    try:
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot open {where}: {exc}") from exc
    try:
        tables = user_tables(db)
        if tables and MIGRATIONS_TABLE not in tables and not is_unversioned_store(db, tables):
            raise not_a_store(where, tables)
        return bool(tables)
    except sqlite3.Error as exc:
        raise translate(exc, where, "cannot read it") from exc
    finally:
        db.close()


def configure(db: sqlite3.Connection) -> None:
    """Per-connection settings (none of them writes to the file)."""
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    # Every INSERT fires the chain guard's trigger, which makes SQLite keep a statement journal;
    # in a temporary file that cost more than the guard itself (measured: 32 µs a row instead
    # of 19 µs for an empty trigger). In memory it is small, and so is what else goes there.
    db.execute("PRAGMA temp_store=MEMORY")
    register_functions(db)


def register_functions(db: sqlite3.Connection) -> None:
    """The SQL functions the schema's triggers call (see 002_chain_guard.sql)."""
    db.create_function("claire_chain_hash", 2, _sql_chain_hash, deterministic=True)


def _sql_chain_hash(prev_hash: object, canonical: object) -> str | None:
    """SHA-256(prev_hash || canonical) for SQL; NULL (so the guard refuses) for bad input."""
    if not isinstance(prev_hash, str) or not isinstance(canonical, bytes):
        return None
    try:
        return chain_hash(prev_hash, canonical)
    except ValueError:  # prev_hash is not hex
        return None


def check(db: sqlite3.Connection, where: str) -> None:
    """Raise StoreSchemaError unless the file is a Claire store of exactly this code's schema."""
    try:
        tables = user_tables(db)
        if MIGRATIONS_TABLE not in tables:
            if is_unversioned_store(db, tables):
                raise StoreSchemaError(
                    f"{where} has an older schema (made before migrations were versioned): "
                    "upgrade it with `claire db migrate`"
                )
            raise not_a_store(where, tables)
        applied = dict(db.execute(f"SELECT name, checksum FROM {MIGRATIONS_TABLE}").fetchall())
    except sqlite3.Error as exc:
        raise translate(exc, where, "cannot read the schema") from exc
    check_schema(where, applied, known_migrations("sqlite"))


def migrate(db: sqlite3.Connection, where: str) -> list[str]:
    """Apply the migrations the store lacks, each once, in one IMMEDIATE transaction (so two
    processes migrating at once apply each migration once). Returns every known migration."""
    known = known_migrations("sqlite")
    try:
        user_tables(db)  # "file is not a database" before any lock or journal is taken
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = user_tables(db)
            applied: dict[str, str] = {}
            if MIGRATIONS_TABLE in tables:
                applied = dict(db.execute(f"SELECT name, checksum FROM {MIGRATIONS_TABLE}"))
            elif tables and not is_unversioned_store(db, tables):
                raise not_a_store(where, tables)
            # An unversioned store adopts 001: its CREATE ... IF NOT EXISTS find it all there.
            pending = check_schema(where, applied, known, migrating=True)
            db.execute(CREATE_MIGRATIONS_TABLE)
            for migration in pending:
                for statement in statements(migration.sql):
                    db.execute(statement)
                db.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, checksum) VALUES (?, ?)",
                    (migration.name, migration.checksum),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if db.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
    except sqlite3.Error as exc:
        raise translate(exc, where, "migration failed") from exc
    return [m.name for m in known]


def user_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    ).fetchall()
    return [name for (name,) in rows]


def is_unversioned_store(db: sqlite3.Connection, tables: list[str]) -> bool:
    """A Claire store made before migrations were versioned: exactly our `events` table."""
    if tables != ["events"]:
        return False
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    return columns == EVENTS_COLUMNS


def statements(script: str) -> Iterator[str]:
    """The statements of a migration, one at a time (triggers' inner `;` included), so they
    run inside the caller's transaction (executescript would commit it first)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip():
        yield buffer  # trailing comments: harmless


def translate(exc: sqlite3.Error, where: str, what: str) -> StoreError:
    """One line naming the file and what failed; a lock held too long is an outage (retry)."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return StoreSchemaError(f"{where} is not a SQLite database ({text})")
    if "readonly" in text:
        return StoreError(f"{where} is read-only: {what} ({text})")
    if "locked" in text:
        return StoreUnavailableError(f"{where}: {what}, the database is locked ({text})")
    return StoreError(f"{where}: {what}: {text}")
