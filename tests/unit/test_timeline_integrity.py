"""The background chain verifier behind GET /integrity: incremental, and it notices tampering."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from claire.store import EventStore, open_store
from claire.timeline.integrity import IntegrityMonitor
from rigs.factories import trade


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def store(sqlite_path: Path) -> Iterator[EventStore]:
    with open_store(f"sqlite:///{sqlite_path}", create=True) as opened:
        for _ in range(4):
            opened.append(trade())  # sequences 1-20
        yield opened


def raw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for name in ("events_immutable_update", "events_immutable_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    return db


def test_verifies_in_chunks_then_only_what_is_appended(store: EventStore) -> None:
    monitor = IntegrityMonitor(lambda: store, chunk=8)
    assert monitor.document()["status"] == "verifying"
    assert monitor.step() and monitor.verified_to == 8  # more to do at once
    assert monitor.step() and monitor.verified_to == 16
    assert not monitor.step() and monitor.verified_to == 20
    assert monitor.document() == {
        "status": "verified",
        "verified_to_sequence": 20,
        "head_sequence": 20,
        "first_break": None,
        "error": None,
        "checkpoint": None,
    }
    store.append(trade())
    assert not monitor.step()
    assert (monitor.verified_to, monitor.document()["status"]) == (25, "verified")


def test_an_edit_ahead_of_the_verified_part_is_a_break(
    store: EventStore, sqlite_path: Path
) -> None:
    monitor = IntegrityMonitor(lambda: store, chunk=8)
    monitor.step()
    raw(sqlite_path).execute(
        "UPDATE events SET payload = json_set(payload, '$.price', '1') WHERE sequence_number = 11"
    )
    while monitor.step():
        pass
    document = monitor.document()
    assert document["status"] == "broken" and document["verified_to_sequence"] == 8
    assert document["first_break"]["sequence_number"] == 11


def test_a_cut_or_rewritten_tail_is_a_break(store: EventStore, sqlite_path: Path) -> None:
    monitor = IntegrityMonitor(lambda: store)
    monitor.step()
    raw(sqlite_path).execute("UPDATE events SET hash = 'x' WHERE sequence_number = 20")
    monitor.step()
    assert monitor.document()["first_break"]["sequence_number"] == 20
    cut = IntegrityMonitor(lambda: store)
    cut.verified_to, cut.last_hash = 20, "x"
    raw(sqlite_path).execute("DELETE FROM events WHERE sequence_number > 17")
    cut.step()
    assert cut.document()["status"] == "broken"
    assert "tail was cut off" in cut.document()["first_break"]["message"]


def test_the_thread_runs_and_stops(store: EventStore) -> None:
    monitor = IntegrityMonitor(lambda: store, interval=0.01)
    monitor.start()
    try:
        for _ in range(500):
            if monitor.document()["status"] == "verified":
                break
            monitor._stop.wait(0.01)
        assert monitor.document()["verified_to_sequence"] == 20
    finally:
        monitor.stop()


def test_names_the_newest_signed_checkpoint(store: EventStore, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from claire.audit.checkpoint import write_checkpoint
    from claire.audit.keys import fingerprint, load_or_create_key, public_hex

    directory = tmp_path / "checkpoints"
    ours = load_or_create_key()  # the local key pair: trusted
    write_checkpoint(store, directory, key=ours)
    monitor = IntegrityMonitor(lambda: store, checkpoints=directory)
    monitor.step()
    assert monitor.document()["checkpoint"] == {
        "sequence_number": 20,
        "created_at": monitor.document()["checkpoint"]["created_at"],
        "key_fingerprint": fingerprint(public_hex(ours)),
        "trusted": True,
        "matches_log": True,
        "problem": None,
    }
    store.append(trade())
    stranger = Ed25519PrivateKey.generate()
    write_checkpoint(store, directory, key=stranger)
    monitor.step()
    newest = monitor.document()["checkpoint"]
    assert newest["sequence_number"] == 25 and not newest["trusted"]
    assert "untrusted key" in newest["problem"] and newest["matches_log"]
