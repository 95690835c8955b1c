"""`claire sql` (issue 14 §4): one view over the archive's segments and the hot store, on SQLite
and PostgreSQL, the seed's columns with payload and metadata as JSON, --json and --csv."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from claire.archive.location import ArchiveError, open_location
from claire.archive.seal import seal
from claire.archive.sql import run_sql
from claire.store import EventStore, open_store
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key

DECISIONS_PER_SYMBOL = (
    "SELECT symbol, date_trunc('month', timestamp_utc) AS month, count(*) AS decisions"
    " FROM events WHERE event_type = 'risk_decision' GROUP BY ALL ORDER BY ALL"
)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("sql")
    db, key_file, archive = base / "events.db", base / "key.pem", base / "archive"
    key = write_key(key_file)
    with open_store(f"sqlite:///{db}", create=True) as store:
        record_small_demo(store)
        seal(store, open_location(str(archive)), 1100, key, segment_events=SEGMENT)
    return db, key_file, archive


def expected_counts(store: EventStore) -> dict[str, int]:
    return {s.event_type: s.count for s in store.stats()}


def check_view(store: EventStore, archive: Path) -> None:
    location = open_location(str(archive))
    head = store.head().sequence_number
    spans = run_sql(
        store,
        location,
        "SELECT count(*), count(DISTINCT sequence_number), min(sequence_number),"
        " max(sequence_number) FROM events",
    )
    assert spans.rows == [(head, head, 1, head)]
    per_type = run_sql(store, location, "SELECT event_type, count(*) FROM events GROUP BY 1")
    assert dict(per_type.rows) == expected_counts(store)
    first_hot = next(iter(store.read(1101, 1101)))
    row = run_sql(
        store,
        location,
        "SELECT event_id, payload, metadata->>'service', hash FROM events"
        " WHERE sequence_number = 1101",
    ).rows[0]
    assert row[0] == str(first_hot.event_id)
    assert orjson.loads(row[1]) == first_hot.payload
    assert row[2] == first_hot.metadata.service
    decisions = run_sql(store, location, DECISIONS_PER_SYMBOL).records()
    total = sum(r["decisions"] for r in decisions)
    assert total == expected_counts(store)["risk_decision"]


def test_the_view_spans_archive_and_hot_store_on_sqlite(sealed: tuple[Path, Path, Path]) -> None:
    with open_store(f"sqlite:///{sealed[0]}") as store:
        check_view(store, sealed[2])


def test_the_view_spans_archive_and_hot_store_on_postgres(
    sealed: tuple[Path, Path, Path], pg_url: str
) -> None:
    with open_store(f"sqlite:///{sealed[0]}") as source, open_store(pg_url, create=True) as pg:
        pg.append(list(source.read()))
        check_view(pg, sealed[2])


def test_bad_sql_is_one_clear_error(sealed: tuple[Path, Path, Path]) -> None:
    with open_store(f"sqlite:///{sealed[0]}") as store, pytest.raises(ArchiveError, match="sql: "):
        run_sql(store, open_location(str(sealed[2])), "SELEC 1")


def test_cli_sql_json_and_csv(sealed: tuple[Path, Path, Path]) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{sealed[0]}",
        "CLAIRE_ARCHIVE_URL": str(sealed[2]),
    }

    def claire(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claire", "sql", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    as_json = claire(DECISIONS_PER_SYMBOL, "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = orjson.loads(as_json.stdout)
    assert {r["symbol"] for r in rows} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert rows[0]["month"] == "2025-02-01T00:00:00.000000Z"
    as_csv = claire(DECISIONS_PER_SYMBOL, "--csv")
    assert as_csv.returncode == 0
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [int(r["decisions"]) for r in parsed] == [r["decisions"] for r in rows]
    text = claire("SELECT count(*) AS n FROM events")
    assert text.returncode == 0 and "(1 row)" in text.stdout
    bad = claire("SELECT nope FROM events")
    assert bad.returncode == 1 and "error: sql:" in bad.stderr and "nope" in bad.stderr
