"""Sealing (issue 14 §1): segments that line up, signed manifests that say what they hold,
files that are what the manifest says, byte-identical from SQLite and PostgreSQL, idempotent,
resumable after a crash, refused for a broken chain, and the same through an S3 server."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claire.archive.catalog import Catalog
from claire.archive.location import ArchiveError, Location, open_location
from claire.archive.merkle import MerkleTree
from claire.archive.reader import ArchiveReader
from claire.archive.seal import SegmentWriter, seal
from claire.archive.sql import run_sql
from claire.archive.store import ArchivedEventStore
from claire.audit.keys import TrustedKey, public_hex, signature_problem
from claire.events.codec import GENESIS_HASH
from claire.store import EventStore, open_store
from tests.archive_fixtures import SEGMENT, record_small_demo, s3_server, write_key
from tests.archive_support import SealingStore


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "events.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        record_small_demo(store)
    return path


@pytest.fixture
def store(demo_db: Path) -> Iterator[EventStore]:
    with open_store(f"sqlite:///{demo_db}") as opened:
        yield opened


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def files_of(location: Location) -> dict[str, bytes]:
    return {name: location.read_bytes(f"segments/{name}") for name in location.list("segments")}


def test_segments_line_up_and_manifests_say_what_they_hold(
    store: EventStore, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    location = open_location(str(tmp_path / "archive"))
    head = store.head().sequence_number
    report = seal(store, location, head - 7, key, segment_events=SEGMENT)
    catalog = Catalog.load(location)
    assert [m.first_sequence for m in catalog.segments] == list(range(1, head - 7, SEGMENT))
    assert catalog.last_sequence == report.through == head - 7
    records = {r.sequence_number: r for r in store.iter_records()}
    trusted = TrustedKey(public_hex(key), "test")
    for segment in catalog.segments:
        rows = [records[s] for s in range(segment.first_sequence, segment.last_sequence + 1)]
        assert segment.prev_hash == (
            rows[0].prev_hash if segment.first_sequence > 1 else GENESIS_HASH
        )
        assert segment.last_hash == rows[-1].hash
        assert segment.merkle_root == MerkleTree.of_leaves(r.canonical for r in rows).root.hex()
        data = location.read_bytes(segment.data.name)
        assert hashlib.sha256(data).hexdigest() == segment.data.sha256
        assert len(data) == segment.data.size
        assert signature_problem(segment.statement, trusted) is None
        table = pq.read_table(location.path(segment.data.name), filesystem=location.fs)
        assert table.column("canonical").to_pylist() == [r.canonical for r in rows]
        assert table.column("hash").to_pylist() == [r.hash for r in rows]
        assert table.column("prev_hash").to_pylist() == [r.prev_hash for r in rows]
        for row, record in zip(table.to_pylist()[:50], rows[:50], strict=False):
            assert orjson.loads(row["payload"]) == record.columns["payload"]
            assert row["event_id"] == record.event_id
    # Sealing again seals nothing; sealing further continues where the archive ends.
    assert seal(store, location, head - 7, key, segment_events=SEGMENT).written == []
    more = seal(store, location, head, key, segment_events=SEGMENT)
    assert [(m.first_sequence, m.last_sequence) for m in more.written] == [(head - 6, head)]


def test_postgres_and_sqlite_seal_byte_identical_segments(
    store: EventStore, key: Ed25519PrivateKey, pg_url: str, tmp_path: Path
) -> None:
    with open_store(pg_url, create=True) as pg:
        for page in store.raw_pages(1, store.head().sequence_number, 1000):
            pg.append(list(store.read(page.sequence[0], page.sequence[-1])))
        assert pg.head() == store.head()
        from_pg = open_location(str(tmp_path / "pg"))
        seal(pg, from_pg, 1500, key, segment_events=SEGMENT)
    from_sqlite = open_location(str(tmp_path / "sqlite"))
    seal(store, from_sqlite, 1500, key, segment_events=SEGMENT)
    assert files_of(from_pg) == files_of(from_sqlite)


def test_a_crash_mid_seal_leaves_nothing_that_counts(
    store: EventStore, key: Ed25519PrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = open_location(str(tmp_path / "archive"))
    seal(store, location, SEGMENT, key, segment_events=SEGMENT)

    def crash(self: SegmentWriter) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(SegmentWriter, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        seal(store, location, 3 * SEGMENT, key, segment_events=SEGMENT)
    assert Catalog.load(location).last_sequence == SEGMENT  # the half segment does not count
    monkeypatch.undo()
    seal(store, location, 3 * SEGMENT, key, segment_events=SEGMENT)
    clean = open_location(str(tmp_path / "clean"))
    seal(store, clean, 3 * SEGMENT, key, segment_events=SEGMENT)
    assert files_of(location) == files_of(clean)


def test_a_broken_chain_is_not_sealed(
    demo_db: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    copy = tmp_path / "broken.db"
    copy.write_bytes(demo_db.read_bytes())
    db = sqlite3.connect(copy)
    db.execute("DROP TRIGGER events_immutable_update")
    db.execute(
        "UPDATE events SET canonical = CAST(replace(CAST(canonical AS TEXT), '\"INFO\"', "
        "'\"WARN\"') AS BLOB) WHERE sequence_number = 1"
    )
    db.commit()
    db.close()
    location = open_location(str(tmp_path / "archive"))
    with open_store(f"sqlite:///{copy}") as broken, pytest.raises(ArchiveError) as caught:
        seal(broken, location, 700, key, segment_events=SEGMENT)
    assert "sequence 1 breaks the hash chain" in str(caught.value)
    assert Catalog.load(location).segments == []


def test_seal_and_read_through_an_s3_server(
    store: EventStore, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "claire-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "claire-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with s3_server() as endpoint:
        url = (
            f"s3://claire-archive/prod?endpoint_override={endpoint}&scheme=http"
            "&region=us-east-1&allow_bucket_creation=true"
        )
        location = open_location(url)
        location.fs.create_dir("claire-archive")
        hot = SealingStore(location, key)  # seals all but its last 2 events, hides them
        hot.append(list(store.read(1, 1300)))
        archived = ArchivedEventStore(hot, ArchiveReader(open_location(url)))
        assert archived.archive.last_sequence == hot.pruned_through() == 1298
        assert list(archived.read(1190, 1300)) == list(store.read(1190, 1300))
        some = next(iter(store.read(1000, 1000)))
        assert archived.get(some.event_id) == some
        assert archived.read_correlation(some.correlation_id) == store.read_correlation(
            some.correlation_id
        )
        result = run_sql(
            hot,
            location,
            "SELECT count(*), count(DISTINCT sequence_number), max(sequence_number) FROM events",
        )
        assert result.rows == [(1300, 1300, 1300)]
        names = location.list("segments")
        assert len([n for n in names if n.endswith(".manifest.json")]) == 6
        assert not [n for n in names if "partial" in n]


def test_cli_seal_and_list(demo_db: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    write_key(key_file)
    archive = tmp_path / "archive"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{demo_db}",
        "CLAIRE_CHECKPOINT_KEY": str(key_file),
    }

    def claire(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claire", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    done = claire(
        "archive",
        "seal",
        "--through",
        "1000",
        "--segment-events",
        "512",
        "--archive-url",
        str(archive),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    sealed = orjson.loads(done.stdout)
    assert (sealed["sealed_before"], sealed["sealed_through"], sealed["events"]) == (0, 1000, 1000)
    again = claire("archive", "seal", "--through", "1000", "--archive-url", str(archive))
    assert again.returncode == 0 and "Nothing to seal" in again.stdout
    env["CLAIRE_ARCHIVE_URL"] = str(archive)
    env["CLAIRE_ARCHIVE_KEEP_HOT"] = "20m"
    kept = claire("archive", "seal", "--segment-events", "512", "--json")
    assert kept.returncode == 0, kept.stderr
    listed = orjson.loads(claire("archive", "list", "--json").stdout)
    assert listed["last_sequence"] == orjson.loads(kept.stdout)["sealed_through"] > 1000
    both = claire("archive", "seal", "--through", "5", "--before", "2025-02-14")
    assert both.returncode == 2 and "not both" in both.stderr
    env.pop("CLAIRE_ARCHIVE_URL")
    missing = claire("archive", "list")
    assert missing.returncode == 2 and "--archive-url" in missing.stderr
    env["CLAIRE_ARCHIVE_KEEP_HOT"] = "soon"
    bad = claire("archive", "seal", "--archive-url", str(archive))
    assert bad.returncode == 1 and "CLAIRE_ARCHIVE_KEEP_HOT='soon'" in bad.stderr
