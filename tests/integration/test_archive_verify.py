"""`claire verify` over an archive (issue 14 §2): each way a segment can be tampered with is
caught and located by the first sequence it puts in doubt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claire.archive.catalog import Catalog
from claire.archive.location import open_location
from claire.archive.manifest import encode_manifest
from claire.archive.reader import ArchiveReader
from claire.archive.seal import seal
from claire.archive.store import ArchivedEventStore
from claire.archive.verify import verify_with_archive
from claire.audit.keys import TrustedKey, public_hex, sign_document
from claire.audit.verify import VerifyReport
from claire.store import open_store
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key
from tests.archive_support import SealingStore

SEALED = 3 * SEGMENT  # three segments: 1..512, 513..1024, 1025..1536


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A demo store, its key file and an archive of its first three segments."""
    base = tmp_path_factory.mktemp("sealed")
    db, key_file, archive = base / "events.db", base / "key.pem", base / "archive"
    key = write_key(key_file)
    with open_store(f"sqlite:///{db}", create=True) as store:
        record_small_demo(store)
        seal(store, open_location(str(archive)), SEALED, key, segment_events=SEGMENT)
    return db, key_file, archive


@pytest.fixture
def archive(sealed: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(sealed[2], copy)
    return copy


@pytest.fixture
def trusted(sealed: tuple[Path, Path, Path]) -> TrustedKey:
    from claire.audit.keys import load_private_key

    return TrustedKey(public_hex(load_private_key(sealed[1])), "test")


def verified(sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey) -> VerifyReport:
    location = open_location(str(archive))
    with open_store(f"sqlite:///{sealed[0]}") as hot:
        store = ArchivedEventStore(hot, ArchiveReader(location, Catalog(location)))
        return verify_with_archive(store, trusted)


def segment_file(archive: Path, first: int, suffix: str) -> Path:
    return next(
        p
        for p in (archive / "segments").glob(f"{first:012d}-*{suffix}")
        if p.name.count(".") == suffix.count(".")
    )


def rewrite_rows(
    path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    """Edit a segment's rows and write it back with pyarrow, as a tamperer would."""
    table = pq.read_table(path)
    pq.write_table(pa.Table.from_pylist(change(table.to_pylist()), schema=table.schema), path)


def broken_at(report: VerifyReport) -> tuple[int, str]:
    assert not report.ok
    assert report.first_break is not None
    return report.first_break.sequence_number, report.first_break.message


def test_an_intact_archive_verifies(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    report = verified(sealed, archive, trusted)
    assert report.ok, report.to_document()
    assert report.extra["archive"]["segments"] == 3
    assert report.extra["archive"]["last_sequence"] == SEALED


def test_an_edited_row_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        row = rows[100]  # sequence 613
        row["canonical"] = bytes(row["canonical"]).replace(b'"event_type"', b'"event_type" ')
        return rows

    rewrite_rows(segment_file(archive, 513, ".parquet"), edit)
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 613, message


def test_an_edited_column_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        payload = orjson.loads(str(rows[7]["payload"]))  # sequence 1032
        payload["forged"] = True
        rows[7]["payload"] = orjson.dumps(payload).decode()
        return rows

    rewrite_rows(segment_file(archive, 1025, ".parquet"), edit)
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 1032 and "columns" in message, message


def test_a_removed_row_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    rewrite_rows(segment_file(archive, 1, ".parquet"), lambda rows: rows[:41] + rows[42:])
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 42 and "missing" in message, message


def test_a_deleted_segment_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    for path in (archive / "segments").glob("000000000513-*"):
        path.unlink()
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 513 and "missing" in message, message


def test_a_segment_resigned_under_another_key_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    path = segment_file(archive, 1025, ".manifest.json")
    statement = orjson.loads(path.read_bytes())
    path.write_bytes(encode_manifest(sign_document(Ed25519PrivateKey.generate(), statement)))
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 1025 and "untrusted key" in message, message


def test_an_edited_manifest_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    path = segment_file(archive, 513, ".manifest.json")
    statement = orjson.loads(path.read_bytes())
    statement["last_time"] = "2030-01-01T00:00:00.000000Z"
    path.write_bytes(encode_manifest(statement))
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 513 and "edited after signing" in message, message


def test_overlapping_segments_are_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey, tmp_path: Path
) -> None:
    from claire.audit.keys import load_private_key

    other = open_location(str(tmp_path / "other"))
    with open_store(f"sqlite:///{sealed[0]}") as store:
        seal(store, other, 768, load_private_key(sealed[1]), segment_events=256)
    for path in (tmp_path / "other" / "segments").glob("000000000257-*"):
        shutil.copy(path, archive / "segments" / path.name)
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 257 and "overlaps" in message, message


def test_a_rehashed_rewrite_is_located_to_its_tile(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey
) -> None:
    """Rows edited with every hash after them recomputed: the chain holds inside the file, but
    not the signed end, root and tree."""
    from claire.events.codec import chain_hash

    def rehash(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        document = orjson.loads(bytes(rows[300]["canonical"]))
        document["payload"]["forged"] = True
        rows[300]["canonical"] = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        rows[300]["payload"] = orjson.dumps(document["payload"]).decode()
        for index in range(300, len(rows)):
            rows[index]["prev_hash"] = rows[index - 1]["hash"]
            data = bytes(rows[index]["canonical"])
            rows[index]["hash"] = chain_hash(str(rows[index]["prev_hash"]), data)
        return rows

    rewrite_rows(segment_file(archive, 1, ".parquet"), rehash)
    sequence, message = broken_at(verified(sealed, archive, trusted))
    assert sequence == 257 and "rewritten" in message, message  # tile 256..511 holds row 301


def test_pruned_store_chain_runs_from_the_archive_into_the_hot_store(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    location = open_location(str(tmp_path / "archive"))
    hot = SealingStore(location, key)
    with open_store(f"sqlite:///{tmp_path / 'src.db'}", create=True) as source:
        record_small_demo(source)
        hot.append(list(source.read(1, 1000)))
    store = ArchivedEventStore(hot, ArchiveReader(location))
    trusted = TrustedKey(public_hex(key), "test")
    report = verify_with_archive(store, trusted)
    assert report.ok and report.checked == 1000 and report.extra["archive"]["pruned_through"] == 998
    untrusted = verify_with_archive(
        store, TrustedKey(public_hex(Ed25519PrivateKey.generate()), "x")
    )
    assert broken_at(untrusted)[0] == 1


@pytest.fixture
def cli_env(sealed: tuple[Path, Path, Path], archive: Path) -> Iterator[dict[str, str]]:
    yield {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{sealed[0]}",
        "CLAIRE_ARCHIVE_URL": str(archive),
        "CLAIRE_CHECKPOINT_KEY": str(sealed[1]),
    }


def test_cli_verify_names_the_segment_problem(cli_env: dict[str, str], archive: Path) -> None:
    def claire(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claire", *args],
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=120,
            check=False,
        )

    ok = claire("verify")
    assert ok.returncode == 0, ok.stderr
    assert "Archive: 3 segments (sequence 1 → 1536)" in ok.stdout
    for path in (archive / "segments").glob("000000000513-*"):
        path.unlink()
    broken = claire("verify", "--json")
    assert broken.returncode == 1
    document = orjson.loads(broken.stdout)
    assert document["first_break"]["sequence_number"] == 513
    cli_env["CLAIRE_CHECKPOINT_KEY"] = str(archive / "no-such-key.pem")
    refused = claire("verify")
    assert refused.returncode == 1 and "no trusted public key" in refused.stderr


def test_a_hot_store_rewritten_under_the_archive_is_located(
    sealed: tuple[Path, Path, Path], archive: Path, trusted: TrustedKey, tmp_path: Path
) -> None:
    """Rows the archive sealed, rewritten in the hot store with every later hash recomputed:
    the hot chain holds, the sealed rows give it away."""
    import sqlite3

    from claire.events.codec import chain_hash

    copy = tmp_path / "rewritten.db"
    shutil.copy(sealed[0], copy)
    db = sqlite3.connect(copy)
    db.execute("DROP TRIGGER events_immutable_update")
    rows = db.execute(
        "SELECT sequence_number, canonical, prev_hash FROM events WHERE sequence_number >= 700"
        " ORDER BY sequence_number"
    ).fetchall()
    prev = rows[0][2]
    for seq, stored, _ in rows:
        data = bytes(stored)
        if seq == 700:  # the payload changed, in the bytes and the column alike
            document = orjson.loads(data)
            document["payload"]["forged"] = True
            data = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
            db.execute(
                "UPDATE events SET payload = ? WHERE sequence_number = 700",
                (orjson.dumps(document["payload"]).decode(),),
            )
        digest = chain_hash(prev, data)
        db.execute(
            "UPDATE events SET canonical = ?, prev_hash = ?, hash = ? WHERE sequence_number = ?",
            (data, prev, digest, seq),
        )
        prev = digest
    db.commit()
    db.close()
    report = verified((copy, sealed[1], sealed[2]), archive, trusted)
    sequence, message = broken_at(report)
    assert sequence == 700 and "not the row segment 513..1024 sealed" in message, message
