"""No command damages or invents a store (issue 12 §4, §9), through the real `claire` entry point.

Read commands open an existing Claire store only: a missing file, an empty or foreign database,
a text file, or a schema older or newer than the code is one error line and exit 1, and nothing
is created or changed. Only `db migrate`, `demo` and `record` create a store, and only where
there is none or a Claire store already; `--fresh` deletes nothing but a Claire store.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from claire.audit.keys import KEY_ENV, load_or_create_key
from claire.store import open_store
from claire.store.schema import known_migrations
from rigs.factories import trade
from tests.conftest import throwaway_database

CLAIRE = str(Path(sys.executable).with_name("claire"))
SOME_ID = str(uuid.UUID(int=1))
READ_COMMANDS = {
    "verify": ["verify"],
    "explain": ["explain", SOME_ID],
    "trace": ["trace", SOME_ID],
    "stats": ["stats"],
    "replay": ["replay"],
    "validate": ["validate"],
    "export": ["export", "--sequence", "1", "10"],
    "checkpoint": ["checkpoint", "--dir", "checkpoints"],
}
FUTURE = "999_from_a_newer_claire.sql"


def claire(cwd: Path, url: str, *args: str, prefix: tuple[str, ...] = ()) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # A key of its own (export and checkpoint sign), never the user's real one.
    env |= {"XDG_CONFIG_HOME": str(cwd / "config"), "XDG_STATE_HOME": str(cwd / "state")}
    load_or_create_key(cwd / "config" / "claire" / "checkpoint_key.pem")
    env[KEY_ENV] = str(cwd / "config" / "claire" / "checkpoint_key.pem")
    return subprocess.run(
        [*prefix, CLAIRE, *args, "--database-url", url],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refused(done: Any, *fragments: str) -> str:
    """Exit 1 with one error line (no traceback) that says each fragment."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return str(lines[0])


def tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT name FROM sqlite_master ORDER BY name")]


def pg_relations(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def pg(url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode(), params)


@pytest.fixture(scope="module")
def foreign_pg(pg_admin_url: str) -> Iterator[str]:
    """Another application's PostgreSQL database: one table `t` with a row."""
    with throwaway_database(pg_admin_url, "foreign") as url:
        pg(url, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
        yield url


@pytest.fixture
def foreign_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (a)")
        db.execute("INSERT INTO t VALUES (1)")
    return path


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_create_nothing_and_touch_no_foreign_database(
    command: str, tmp_path: Path, foreign_pg: str
) -> None:
    args = READ_COMMANDS[command]
    missing = tmp_path / "missing" / "dir" / "x.db"
    refused(claire(tmp_path, f"sqlite:///{missing}", *args), str(missing), "does not exist")
    assert not (tmp_path / "missing").exists()
    refused(claire(tmp_path, foreign_pg, *args), "not a Claire store", "public.t")
    assert pg_relations(foreign_pg) == ["t"]


def test_foreign_sqlite_empty_and_text_files_are_refused_by_reads(
    tmp_path: Path, foreign_sqlite: Path, pg_url: str
) -> None:
    refused(claire(tmp_path, f"sqlite:///{foreign_sqlite}", "verify"), "not a Claire store", "t")
    assert tables(foreign_sqlite) == ["t"]
    empty = tmp_path / "empty.db"
    empty.touch()
    refused(claire(tmp_path, f"sqlite:///{empty}", "stats"), "is empty, not a Claire store")
    assert empty.stat().st_size == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    refused(claire(tmp_path, f"sqlite:///{notes}", "verify"), "is not a SQLite database")
    assert notes.read_text() == "not a database\n"
    refused(claire(tmp_path, pg_url, "verify"), "is empty, not a Claire store")
    assert pg_relations(pg_url) == []


def test_recording_commands_and_fresh_refuse_what_is_not_a_store(
    tmp_path: Path, foreign_sqlite: Path, foreign_pg: str
) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("years of notes\n")
    refused(
        claire(tmp_path, f"sqlite:///{precious}", "demo", "--fresh"),
        "--fresh refuses to delete it",
        "not a SQLite database",
    )
    assert precious.read_text() == "years of notes\n"
    before = foreign_sqlite.read_bytes()
    refused(claire(tmp_path, f"sqlite:///{foreign_sqlite}", "demo", "--fresh"), "holds t")
    csv = tmp_path / "bars.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2025-01-01,1,1,1,1,1\n")
    record = ["record", "--market-data", str(csv), "--symbol", "BTCUSDT"]
    refused(claire(tmp_path, f"sqlite:///{foreign_sqlite}", *record), "not a Claire store")
    refused(claire(tmp_path, f"sqlite:///{foreign_sqlite}", "db", "migrate"), "not a Claire")
    assert foreign_sqlite.read_bytes() == before
    refused(claire(tmp_path, foreign_pg, "db", "migrate"), "will not add tables")
    refused(claire(tmp_path, foreign_pg, "demo"), "not a Claire store")
    assert pg_relations(foreign_pg) == ["t"]


def unversion(path: Path) -> None:
    """Make the store look like one today's main made: the events table, no migrations table."""
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE claire_schema_migrations")
        db.execute("DROP TRIGGER events_chain_guard")
        # What the archive's migration (004) added: the ids table, the prune record.
        db.execute("DROP TRIGGER events_remember_id")
        db.execute("DROP TABLE event_ids")
        db.execute("DROP TABLE claire_pruned")


def test_an_older_sqlite_store_is_refused_until_db_migrate_upgrades_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    with open_store(url, create=True) as store:
        store.append(trade())
    unversion(path)
    refused(claire(tmp_path, url, "verify"), "older schema", "claire db migrate")
    assert "claire_schema_migrations" not in tables(path)
    migrated = claire(tmp_path, url, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(path) as db:
        applied = [r[0] for r in db.execute("SELECT name FROM claire_schema_migrations")]
    assert applied == [m.name for m in known_migrations("sqlite")]
    verified = claire(tmp_path, url, "verify", "--json")
    assert verified.returncode == 0 and '"checked": 5' in verified.stdout, verified.stdout


def test_an_older_postgres_store_is_refused_until_db_migrate_upgrades_it(
    tmp_path: Path, pg_url: str
) -> None:
    """A store migrated before the chain guard existed (005), holding events."""
    with open_store(pg_url, create=True) as store:
        store.append(trade())
    pg(pg_url, "DROP TRIGGER events_chain_guard ON events; DROP FUNCTION events_chain_guard()")
    pg(pg_url, "DELETE FROM claire_schema_migrations WHERE name = '005_chain_guard.sql'")
    refused(claire(tmp_path, pg_url, "stats"), "older schema", "005_chain_guard.sql")
    migrated = claire(tmp_path, pg_url, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    verified = claire(tmp_path, pg_url, "verify", "--json")
    assert verified.returncode == 0 and '"checked": 5' in verified.stdout, verified.stdout


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "new.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        store.append(trade())
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO claire_schema_migrations (name, checksum) VALUES (?, 'x')", (FUTURE,)
        )
    with open_store(pg_url, create=True):
        pass
    pg(pg_url, "INSERT INTO claire_schema_migrations (name, checksum) VALUES (%s, 'x')", FUTURE)
    for url in (f"sqlite:///{path}", pg_url):
        for args in (["verify"], ["db", "migrate"], ["demo"]):
            refused(claire(tmp_path, url, *args), "newer schema", FUTURE, "upgrade Claire")


def test_percent_encoded_sqlite_urls_are_decoded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/with%20space/my%20db.db"
    assert claire(tmp_path, url, "db", "migrate").returncode == 0
    assert (tmp_path / "with space" / "my db.db").is_file()
    assert not (tmp_path / "with%20space").exists()
    assert claire(tmp_path, url, "verify").returncode == 0


def without_file_permission_override() -> tuple[str, ...]:
    """Run as is, or, as root (who writes anything), without the capabilities that allow it."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only file cannot be simulated")
    return (setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")


def test_a_read_only_store_is_read_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    prefix = without_file_permission_override()
    path = tmp_path / "ro.db"
    url = f"sqlite:///{path}"
    with open_store(url, create=True) as store:
        store.append(trade())
    path.chmod(0o444)
    verified = claire(tmp_path, url, "verify", prefix=prefix)
    assert verified.returncode == 0, verified.stderr
    refused(claire(tmp_path, url, "demo", prefix=prefix), "read-only")
    unversion_target = tmp_path / "ro-old.db"
    with open_store(f"sqlite:///{unversion_target}", create=True):
        pass
    unversion(unversion_target)
    unversion_target.chmod(0o444)
    refused(
        claire(tmp_path, f"sqlite:///{unversion_target}", "db", "migrate", prefix=prefix),
        "read-only",
    )


def test_serve_refuses_to_start_without_a_migrated_store(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "none.db"
    refused(claire(tmp_path, f"sqlite:///{missing}", "serve", "--no-ingest"), "does not exist")
    assert not missing.exists()
    refused(claire(tmp_path, pg_url, "serve", "--no-ingest"), "is empty", "claire db migrate")
    assert pg_relations(pg_url) == []
    migrated = claire(tmp_path, pg_url, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    monkeypatch.setenv("CLAIRE_MAX_FUTURE_SKEW", "soon")
    refused(claire(tmp_path, pg_url, "serve", "--no-ingest"), "CLAIRE_MAX_FUTURE_SKEW='soon'")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_into_a_closed_pipe_ends_quietly(tmp_path: Path, fmt: str) -> None:
    """`claire export ... | head -2`: the reader goes away; no error line, no usage exit 2."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        for _ in range(60):  # ~300 events: far more than a pipe's buffer
            store.append(trade())
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path)}
    load_or_create_key(tmp_path / "config" / "claire" / "checkpoint_key.pem")
    env[KEY_ENV] = str(tmp_path / "config" / "claire" / "checkpoint_key.pem")
    args = ["export", "--sequence", "1", "300", "--format", fmt, "--database-url", url]
    process = subprocess.Popen(
        [CLAIRE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    head = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()  # as `head -2` does
    code = process.wait(timeout=60)
    stderr = process.stderr.read().decode()
    assert all(head), head
    assert code == 1 and stderr == "", (code, stderr)
