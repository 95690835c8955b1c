"""Pruning (issue 14 §1, §6) on SQLite and PostgreSQL: seal -> prune -> every read command
answers exactly as before (their --json output compared), and everything that guards the hot
store still holds: immutability, the chain guard, idempotency by event_id (an id living only in
the archive is still a duplicate), causation against archived causes. Pruning refuses an archive
that does not verify against the rows. PostgreSQL's pruning checks of its own (migration 010)
and the conversion of a store that holds events are in test_archive_prune_postgres.py."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from claire.archive.location import ArchiveError, open_location
from claire.archive.prune import prune
from claire.archive.seal import seal
from claire.archive.store import ArchivedEventStore
from claire.audit.keys import TrustedKey, load_private_key, public_hex
from claire.errors import ArchivedEventError, EventConflictError
from claire.events import EventType
from claire.store import open_store
from rigs.factories import factory
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key

SEALED = 3 * SEGMENT
PRUNED = SEALED - 10  # a prune need not end at a segment's end


def claire(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claire", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def read_commands(store_url: str) -> list[list[str]]:
    """Every read command, on events the prune moves to the archive (and across the edge)."""
    with open_store(store_url) as store:
        head = store.head().sequence_number
        decision = store.find_events(event_types=[EventType.RISK_DECISION], to_sequence=600)[-1]
        snapshot = store.latest_snapshot(PRUNED)
        assert snapshot is not None
    return [
        ["explain", str(decision.event_id)],
        ["trace", str(decision.correlation_id)],
        ["stats", "--all"],
        ["replay", "--sequence", "1", str(head)],
        ["replay", "--from", "2025-02-14 00:20", "--to", "2025-02-14 01:00"],
        ["validate", "--sequence", "1", str(head)],
        ["scene", "--sequence", str(PRUNED + 5), "--symbol", "BTCUSDT"],
        ["explain", "--at", "2025-02-14 00:40", "--symbol", "ETHUSDT"],
        ["sql", "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1"],
    ]


TIMINGS = {"elapsed_seconds", "events_per_second", "seconds", "duration_seconds"}


def stable(document: Any) -> Any:
    """The answer without how long it took."""
    if isinstance(document, dict):
        return {k: stable(v) for k, v in document.items() if k not in TIMINGS}
    if isinstance(document, list):
        return [stable(v) for v in document]
    return document


def answers(env: dict[str, str], commands: list[list[str]]) -> list[Any]:
    found = []
    for command in commands:
        done = claire(env, *command, "--json")
        assert done.returncode == 0, (command, done.stderr)
        found.append(stable(orjson.loads(done.stdout)))
    return found


def exported(env: dict[str, str], head: int, path: Path) -> list[bytes]:
    done = claire(env, "export", "--sequence", "1", str(head), "-o", str(path))
    assert done.returncode == 0, done.stderr
    return path.read_bytes().splitlines()[:-1]  # the events (the manifest line has a time)


def lowest_sequence(url: str) -> int:
    """The oldest sequence the hot store still holds, read from the database itself."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return int(db.execute("SELECT min(sequence_number) FROM events").fetchone()[0])
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(sequence_number) FROM events").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(params=["sqlite", "postgresql"])
def sealed(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    url = (
        f"sqlite:///{tmp_path / 'events.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    key_file, archive = tmp_path / "key.pem", tmp_path / "archive"
    key = write_key(key_file)
    with open_store(url, create=True) as store:
        record_small_demo(store)
        seal(store, open_location(str(archive)), SEALED, key, segment_events=SEGMENT)
        head = store.head().sequence_number
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CLAIRE_ARCHIVE_URL": str(archive),
        "CLAIRE_CHECKPOINT_KEY": str(key_file),
    }
    return {"url": url, "archive": archive, "key_file": key_file, "env": env, "head": head}


def test_every_read_command_answers_the_same_after_a_prune(
    sealed: dict[str, Any], tmp_path: Path
) -> None:
    env, head = sealed["env"], sealed["head"]
    commands = read_commands(env["DATABASE_URL"])
    before = answers(env, commands)
    export_before = exported(env, head, tmp_path / "before.jsonl")
    pruned = claire(env, "archive", "prune", "--through", str(PRUNED), "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert orjson.loads(pruned.stdout)["removed"] == PRUNED
    assert lowest_sequence(sealed["url"]) == PRUNED + 1
    after = answers(env, commands)
    for command, was, now in zip(commands, before, after, strict=True):
        assert now == was, command
    assert exported(env, head, tmp_path / "after.jsonl") == export_before
    verified = claire(env, "verify", "--json")
    assert verified.returncode == 0, verified.stdout
    assert orjson.loads(verified.stdout)["checked"] == head
    again = claire(env, "archive", "prune", "--through", str(PRUNED))
    assert again.returncode == 0 and "Nothing to prune" in again.stdout
    without = {k: v for k, v in env.items() if k != "CLAIRE_ARCHIVE_URL"}
    refused = claire(without, "stats", "--all")
    assert refused.returncode == 1 and f"sequences 1..{PRUNED}" in refused.stderr
    assert "CLAIRE_ARCHIVE_URL" in refused.stderr


def test_what_guards_the_hot_store_still_holds_after_a_prune(
    sealed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = load_private_key(sealed["key_file"])
    trusted = TrustedKey(public_hex(key), "test")
    location = open_location(str(sealed["archive"]))
    url = sealed["url"]
    archived_row = () if url.startswith("sqlite:///") else postgres_row(url, 1)
    with open_store(url) as hot:
        archived_event = next(iter(hot.read(100, 100)))
        cause = next(iter(hot.read(PRUNED - 1, PRUNED - 1)))
        prune(hot, location, PRUNED, trusted)
        assert hot.pruned_through() == PRUNED
        assert hot.get(archived_event.event_id) is None
        with pytest.raises(ArchivedEventError, match="sequence 100"):
            hot.append(archived_event)  # the hot store alone cannot compare: refused
    monkeypatch.setenv("CLAIRE_ARCHIVE_URL", str(sealed["archive"]))
    with open_store(url) as store:
        assert isinstance(store, ArchivedEventStore)
        head = store.head()
        assert store.append(archived_event) == [100]  # a repeat: its archived sequence
        forged = archived_event.model_copy(update={"timestamp_logical": 999_999})
        with pytest.raises(EventConflictError, match="archived"):
            store.append(forged)
        assert store.head() == head
        f = factory()
        effect = f.create_alert(
            level="INFO",
            code="archived_cause",
            message="caused by an archived event",
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )
        assert store.append(effect) == [head.sequence_number + 1]
        assert [e.event_id for e in store.causation_chain(effect.event_id)][-2:] == [
            cause.event_id,
            effect.event_id,
        ]
        assert effect.event_id in {e.event_id for e in store.effects(cause.event_id)}
    if url.startswith("sqlite:///"):
        sqlite_guards_hold(url.removeprefix("sqlite:///"))
    else:
        postgres_guards_hold(url, archived_row)


def sqlite_guards_hold(path: str) -> None:
    db = sqlite3.connect(path)
    for statement in (
        "UPDATE events SET payload = '{}' WHERE sequence_number = ?",
        "DELETE FROM events WHERE sequence_number = ?",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="Events are immutable"):
            db.execute(statement, (PRUNED + 3,))
    with pytest.raises(sqlite3.IntegrityError, match="Events are immutable"):
        db.execute("DELETE FROM event_ids")
    row = db.execute(
        "SELECT event_id, event_type, sequence_number, timestamp_utc, timestamp_logical,"
        " causation_id, correlation_id, metadata, payload, prev_hash, hash, canonical"
        " FROM events WHERE sequence_number = ?",
        (PRUNED + 1,),
    ).fetchone()
    with pytest.raises(sqlite3.Error, match=r"chain guard|claire_chain_hash"):
        db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", ("x", *row[1:]))
    db.close()


PG_COLUMNS = (
    "event_id, event_type, sequence_number, timestamp_utc, timestamp_logical, causation_id,"
    " correlation_id, metadata, payload, prev_hash, hash, canonical"
)


def postgres_row(url: str, sequence: int) -> tuple[Any, ...]:
    """A row's values as a raw INSERT takes them back (the JSON columns as text)."""
    text_json = PG_COLUMNS.replace("metadata, payload", "metadata::text, payload::text")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT {text_json} FROM events WHERE sequence_number = %s", (sequence,)
        ).fetchone()
    assert row is not None
    return row


def postgres_guards_hold(url: str, archived_row: tuple[Any, ...]) -> None:
    """Immutability for everyone (the owner role and replica mode included), the chain guard
    against rows inserted by hand, every id kept."""
    for statement in (
        f"UPDATE events SET payload = '{{}}'::jsonb WHERE sequence_number = {PRUNED + 3}",
        f"DELETE FROM events WHERE sequence_number = {PRUNED + 3}",
        f"SET ROLE claire_owner; DELETE FROM events WHERE sequence_number = {PRUNED + 1}",
        f"SET session_replication_role = replica; DELETE FROM events WHERE sequence_number"
        f" = {PRUNED + 1}",
        "TRUNCATE events",
        "DELETE FROM event_ids",
        "UPDATE event_ids SET sequence_number = 0",
        "TRUNCATE events, event_ids",
        "DELETE FROM claire_pruned",
        "TRUNCATE claire_pruned",
        "UPDATE claire_pruned SET through = 1",  # the boundary only moves forward
    ):
        with (
            psycopg.connect(url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.RestrictViolation),
        ):
            conn.execute(statement.encode())
    head = postgres_row(url, PRUNED + 1)
    with psycopg.connect(url, autocommit=True) as conn:
        top = conn.execute("SELECT max(sequence_number), count(*) FROM events").fetchone()
        assert top is not None
        insert = (
            f"INSERT INTO events ({PG_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)"
        )
        # An archived row inserted again exactly as it was (its sequence is free in the table
        # now), and a row after the head that does not continue it: the chain guard refuses.
        after_head = (uuid.uuid4(), head[1], top[0] + 1, *head[3:9], "0" * 64, *head[10:])
        for forged in (archived_row, after_head):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="chain guard"):
                conn.execute(insert, forged)
        kept = conn.execute("SELECT count(*) FROM event_ids").fetchone()
        assert kept == (top[0],)  # every id ever stored, pruned or not
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (top[1],)


def test_prune_refuses_an_archive_that_does_not_hold_the_rows(
    sealed: dict[str, Any], tmp_path: Path
) -> None:
    key = load_private_key(sealed["key_file"])
    trusted = TrustedKey(public_hex(key), "test")
    url = sealed["url"]
    with open_store(url) as hot:
        with pytest.raises(ArchiveError, match="not sealed"):
            prune(hot, open_location(str(sealed["archive"])), SEALED + 1, trusted)
        untrusted = TrustedKey(public_hex(write_key(tmp_path / "other.pem")), "other")
        with pytest.raises(ArchiveError, match="does not verify"):
            prune(hot, open_location(str(sealed["archive"])), PRUNED, untrusted)
        broken = tmp_path / "broken"
        shutil.copytree(sealed["archive"], broken)
        for path in (broken / "segments").glob("000000000513-*"):
            path.unlink()
        with pytest.raises(ArchiveError, match=r"sequences 513\.\.1024 are missing"):
            prune(hot, open_location(str(broken)), PRUNED, trusted)
        head = hot.head().sequence_number
        seal(hot, open_location(str(sealed["archive"])), head, key, segment_events=SEGMENT)
        with pytest.raises(ArchiveError, match="the head"):
            prune(hot, open_location(str(sealed["archive"])), head, trusted)
        assert hot.pruned_through() == 0


def api_answers(store: Any, paths: list[str]) -> list[Any]:
    import asyncio

    import httpx

    from claire.api.app import create_app
    from claire.config import Settings

    app = create_app(Settings(), store=store)

    async def fetch() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            found = []
            for path in paths:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.text)
                found.append(stable(response.json()))
            return found

    return asyncio.run(fetch())


def test_the_api_answers_the_same_after_a_prune(
    sealed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sealed["url"]
    with open_store(url) as store:
        decision = store.find_events(event_types=[EventType.RISK_DECISION], to_sequence=600)[-1]
        paths = [
            f"/events/{decision.event_id}",
            f"/events/{decision.event_id}/explain",
            f"/events/{decision.event_id}/causation",
            f"/correlations/{decision.correlation_id}",
            "/events?from_sequence=1500&limit=60",
            "/stats",
            f"/scene?sequence={PRUNED - 3}",
            "/symbols",
        ]
        before = api_answers(store, paths)
        prune(
            store,
            open_location(str(sealed["archive"])),
            PRUNED,
            TrustedKey(public_hex(load_private_key(sealed["key_file"])), "test"),
        )
    monkeypatch.setenv("CLAIRE_ARCHIVE_URL", str(sealed["archive"]))
    with open_store(url) as store:
        assert api_answers(store, paths) == before
