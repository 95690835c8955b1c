"""verify_log on a SQLite file tampered behind the store's back, and exports checked alone."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.export import Selection, read_jsonl_export, write_csv, write_jsonl
from claire.audit.export_verify import verify_export_records
from claire.audit.keys import TrustedKey, load_or_create_key, public_hex
from claire.audit.verify import Problem, verify_log
from claire.errors import NotFoundError
from claire.store import EventStore, open_store
from rigs.factories import factory, trade


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite log of three trades (15 events)."""
    path = tmp_path / "log.db"
    f = factory()
    with open_store(f"sqlite:///{path}", create=True) as store:
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            store.append(trade(f, symbol))
    return path


@pytest.fixture
def store(db_path: Path) -> Iterator[EventStore]:
    with open_store(f"sqlite:///{db_path}", create=True) as opened:
        yield opened


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_or_create_key(tmp_path_factory.mktemp("key") / "k.pem")


@pytest.fixture
def trusted(key: Any) -> TrustedKey:
    return TrustedKey(public_hex(key), "test")


def tamper(db_path: Path, *statements: str) -> None:
    """What a privileged user could do: drop the immutability triggers and edit rows."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("DROP TRIGGER events_immutable_update")
    db.execute("DROP TRIGGER events_immutable_delete")
    for sql in statements:
        db.execute(sql)
    db.close()


def verify_file(db_path: Path, from_sequence: int = 1) -> tuple[bool, int | None, Problem | None]:
    with open_store(f"sqlite:///{db_path}", create=True) as store:
        report = verify_log(store, from_sequence)
    broken = report.first_break
    return report.ok, broken.sequence_number if broken else None, broken.problem if broken else None


def test_untouched_log_verifies_with_head(store: EventStore) -> None:
    report = verify_log(store)
    assert report.ok
    assert (report.checked, report.last_sequence) == (15, 15)
    assert report.last_hash == store.head().hash


def test_from_sequence_takes_previous_hash(store: EventStore) -> None:
    report = verify_log(store, 7)
    assert report.ok and report.checked == 9 and report.last_hash == store.head().hash


def test_from_sequence_beyond_the_log_is_not_found(store: EventStore) -> None:
    with pytest.raises(NotFoundError, match="ends at sequence 15"):
        verify_log(store, 17)


def test_edited_payload_column_is_named(db_path: Path) -> None:
    tamper(
        db_path,
        "UPDATE events SET payload = json_set(payload, '$.approved', json('false'))"
        " WHERE sequence_number = 8",
    )
    assert verify_file(db_path) == (False, 8, Problem.COLUMNS)


def test_edited_metadata_column_is_named(db_path: Path) -> None:
    tamper(
        db_path,
        "UPDATE events SET metadata = json_set(metadata, '$.service', 'forged')"
        " WHERE sequence_number = 4",
    )
    assert verify_file(db_path) == (False, 4, Problem.COLUMNS)


def test_edited_hashed_bytes_are_named(db_path: Path) -> None:
    tamper(
        db_path,
        "UPDATE events SET canonical = CAST(replace(CAST(canonical AS TEXT), '50010', '40010')"
        " AS BLOB) WHERE sequence_number = 10",
    )
    assert verify_file(db_path) == (False, 10, Problem.HASH)


def test_deleted_event_is_named_as_missing(db_path: Path) -> None:
    tamper(db_path, "DELETE FROM events WHERE sequence_number = 6")
    assert verify_file(db_path) == (False, 6, Problem.MISSING)


def test_swapped_events_are_named(db_path: Path) -> None:
    tamper(
        db_path,
        "UPDATE events SET sequence_number = -1 WHERE sequence_number = 12",
        "UPDATE events SET sequence_number = 12 WHERE sequence_number = 13",
        "UPDATE events SET sequence_number = 13 WHERE sequence_number = -1",
    )
    assert verify_file(db_path) == (False, 12, Problem.OUT_OF_ORDER)


def test_jsonl_export_verifies_on_its_own_and_names_an_edit(
    store: EventStore, key: Any, trusted: TrustedKey
) -> None:
    out = io.BytesIO()
    manifest = write_jsonl(store, Selection(first=3, last=9), out, key)
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 and manifest.count == 7
    ninth = next(store.iter_records(9, 9))
    assert orjson.loads(lines[-1])["manifest"]["head_hash"] == ninth.hash
    records, found = read_jsonl_export(lines)
    assert found is not None and found["head_hash"] == records[-1].hash
    assert verify_export_records(records, found, trusted).ok

    edited = orjson.loads(lines[4])
    edited["event"]["payload"]["size"] = "2.0"
    lines[4] = orjson.dumps(edited)
    records, found = read_jsonl_export(lines)
    report = verify_export_records(records, found, trusted)
    assert not report.ok and report.first_break is not None
    assert (report.first_break.sequence_number, report.first_break.problem) == (7, Problem.HASH)


def test_export_missing_line_or_manifest_is_named(
    store: EventStore, key: Any, trusted: TrustedKey
) -> None:
    out = io.BytesIO()
    write_jsonl(store, Selection(first=1, last=5), out, key)
    lines = out.getvalue().splitlines()
    records, manifest = read_jsonl_export([*lines[:2], *lines[3:]])
    report = verify_export_records(records, manifest, trusted)
    assert report.first_break is not None and report.first_break.sequence_number == 3
    records, manifest = read_jsonl_export(lines[:-1])
    [problem] = verify_export_records(records, manifest, trusted).extra_problems
    assert problem.startswith("no manifest:")


def test_correlation_export_is_not_contiguous_but_verifies(
    store: EventStore, key: Any, trusted: TrustedKey
) -> None:
    f = factory()
    interleaved = trade(f, "XRPUSDT")
    store.append(interleaved[:2])
    store.append(trade(f, "ADAUSDT"))
    store.append(interleaved[2:])
    out = io.BytesIO()
    manifest = write_jsonl(store, Selection(correlation_id=interleaved[0].correlation_id), out, key)
    assert (manifest.count, manifest.contiguous) == (5, False)
    assert [(r["first_sequence"], r["last_sequence"]) for r in manifest.runs] == [
        (16, 17),
        (23, 25),
    ]
    records, found = read_jsonl_export(out.getvalue().splitlines())
    assert [r.sequence_number for r in records] == [16, 17, 23, 24, 25]
    assert verify_export_records(records, found, trusted).ok


def test_csv_export_has_hashes_and_canonical_bytes(store: EventStore) -> None:
    out = io.StringIO()
    manifest = write_csv(store, Selection(first=14, last=15), out)
    rows = out.getvalue().splitlines()
    assert rows[0].startswith("sequence_number,event_id,event_type,")
    assert len(rows) == 3 and manifest.head_hash == store.head().hash
    assert rows[2].startswith("15,") and '"{""causation_id""' in rows[2]


def test_empty_selection_is_not_found(store: EventStore, key: Any) -> None:
    with pytest.raises(NotFoundError, match=r"no events in sequence range 20\.\.30"):
        write_jsonl(store, Selection(first=20, last=30), io.BytesIO(), key)
