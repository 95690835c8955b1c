"""The tamper matrix: a privileged user edits the log behind the store's back; verify says where.

Each case tampers a throwaway database (SQLite file or PostgreSQL database) holding four trades
(20 events, a signed checkpoint after each trade) directly, with the immutability triggers out
of the way (SQLite: dropped; PostgreSQL: `ALTER TABLE events DISABLE TRIGGER ALL` as superuser),
and asserts the first bad sequence number `verify` names. The cases live in rigs/tamper.py;
`benchmarks/faults.py` prints the same matrix from `run_matrix`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claire.audit.checkpoint import load_or_create_key
from rigs.tamper import (
    CASES,
    EVENTS,
    TRADES,
    Case,
    Subject,
    detect,
    postgres_subject,
    sqlite_subject,
    tamper_and_detect,
)

# --- tests -------------------------------------------------------------------------------------


@pytest.fixture
def key(tmp_path: Path) -> Any:
    return load_or_create_key(tmp_path / "checkpoint_ed25519.pem")


@pytest.fixture(params=["sqlite", "postgres"])
def subject(request: pytest.FixtureRequest, tmp_path: Path, key: Any) -> Iterator[Subject]:
    if request.param == "sqlite":
        yield sqlite_subject(tmp_path, key)
    else:
        yield postgres_subject(request.getfixturevalue("pg_url"), tmp_path, key)


def test_untouched_database_verifies_clean(subject: Subject) -> None:
    report = detect(subject.url, subject.checkpoints, subject.key)
    assert report.ok, report.to_document()
    assert (report.checked, report.last_sequence) == (EVENTS, EVENTS)
    assert report.extra["checkpoints"]["count"] == TRADES
    assert all(f["ok"] for f in report.extra["checkpoints"]["findings"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampering_is_detected_at_the_first_bad_sequence(subject: Subject, case: Case) -> None:
    report = tamper_and_detect(subject, case)
    assert not report.ok
    assert report.first_break is not None, report.to_document()
    assert (report.first_break.sequence_number, report.first_break.problem) == (
        case.first_bad,
        case.problem,
    ), report.to_document()
    # One verdict: the intact range ends just before the named row.
    assert report.last_sequence == case.first_bad - 1, report.to_document()
    assert report.checked == case.first_bad - 1, report.to_document()


@pytest.mark.parametrize("case", [c for c in CASES if c.needs_checkpoints], ids=lambda c: c.name)
def test_without_checkpoints_these_cases_look_clean(subject: Subject, case: Case) -> None:
    """Why checkpoints exist: the chain alone cannot see a cut tail or a recomputed history."""
    report = tamper_and_detect(subject, Case(case.name, case.tamper, 0, case.problem))
    assert report.ok


def test_replica_mode_does_not_bypass_the_triggers(pg_url: str, tmp_path: Path, key: Any) -> None:
    """session_replication_role = replica skips ordinary triggers, not ENABLE ALWAYS ones."""
    import psycopg

    subject = postgres_subject(pg_url, tmp_path, key)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in (
            "UPDATE events SET payload = '{}'::jsonb WHERE sequence_number = 7",
            "DELETE FROM events WHERE sequence_number = 7",
            "TRUNCATE events CASCADE",
        ):
            with pytest.raises(psycopg.Error, match="Events are immutable"):
                conn.execute(statement)
        modes = conn.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'events'::regclass"
            " AND tgname LIKE 'events_immutable_%' ORDER BY tgname"
        ).fetchall()
    assert modes == [
        ("events_immutable_delete", "A"),
        ("events_immutable_truncate", "A"),
        ("events_immutable_update", "A"),
    ]
    assert detect(subject.url, subject.checkpoints, key).ok
