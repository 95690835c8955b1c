"""`claire record` does not record the same input twice by accident (issue 12 §7).

Through the real entry point on SQLite and PostgreSQL: the same file again is refused naming
the overlap, so is a file that overlaps in part; `--append-overlap` records it knowingly; the
same times for another symbol are no overlap; a file with duplicate timestamps stores nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claire.errors import StoreSchemaError
from claire.events import EventType
from claire.store import open_store

CLAIRE = Path(sys.executable).with_name("claire")
HEADER = "timestamp,open,high,low,close,volume"


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


def record(
    cwd: Path, url: str, file: Path, symbol: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [
            str(CLAIRE),
            "record",
            "--market-data",
            str(file),
            "--symbol",
            symbol,
            "--database-url",
            url,
            *extra,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def bars_file(path: Path, minutes: range) -> Path:
    rows = [HEADER]
    for minute in minutes:
        price = 100 + (minute // 25) % 2
        when = f"2025-03-01T{minute // 60:02d}:{minute % 60:02d}:00Z"
        rows.append(f"{when},{price},{price + 1},{price - 1},{price},10")
    path.write_text("\n".join(rows) + "\n")
    return path


def head(url: str) -> int:
    with open_store(url) as store:
        return store.head().sequence_number


def test_the_same_bars_are_not_recorded_twice_by_accident(tmp_path: Path, url: str) -> None:
    day = bars_file(tmp_path / "day.csv", range(200))
    first = record(tmp_path, url, day, "TESTUSD", "--json")
    assert first.returncode == 0, first.stderr
    stored = head(url)

    again = record(tmp_path, url, day, "TESTUSD")
    assert again.returncode == 1
    message = again.stderr.strip()
    assert message.startswith(
        "error: day.csv: 200 of 200 bars for TESTUSD are already stored "
        "(2025-03-01T00:00:00.000000Z → 2025-03-01T03:19:00.000000Z, file lines 2..201, "
        "stored at sequences 2.."
    ), message
    assert message.endswith("Nothing was stored; pass --append-overlap to record them anyway")
    assert len(message.splitlines()) == 1

    # Half new, half stored: still refused, naming the 50 that overlap.
    later = bars_file(tmp_path / "later.csv", range(150, 250))
    partly = record(tmp_path, url, later, "TESTUSD")
    assert partly.returncode == 1
    assert "50 of 100 bars for TESTUSD" in partly.stderr
    assert "03:19:00.000000Z, file lines 2..51" in partly.stderr
    assert head(url) == stored

    # The same times for another symbol overlap nothing.
    other = record(tmp_path, url, day, "OTHERUSD", "--json")
    assert other.returncode == 0, other.stderr

    # Knowingly: recorded, and the session says how many bars repeat.
    knowingly = record(tmp_path, url, later, "TESTUSD", "--append-overlap", "--json")
    assert knowingly.returncode == 0, knowingly.stderr
    first_sequence = json.loads(knowingly.stdout)["first_sequence"]
    with open_store(url) as store:
        started = next(store.read(first_sequence, first_sequence))
    assert started.event_type is EventType.ALERT
    assert started.payload["context"]["parameters"]["overlapping_bars"] == 50


def test_duplicate_timestamps_in_a_file_store_nothing(tmp_path: Path, url: str) -> None:
    file = bars_file(tmp_path / "dup.csv", range(10))
    lines = file.read_text().splitlines()
    file.write_text("\n".join([*lines[:5], lines[4], *lines[5:]]) + "\n")
    refused = record(tmp_path, url, file, "TESTUSD")
    assert refused.returncode == 1
    assert "dup.csv: 1 timestamp(s) appear more than once" in refused.stderr
    assert "2025-03-01T00:03:00+00:00 at lines 5, 6" in refused.stderr
    # The file is checked before the store is created: there is none, let alone an event.
    with pytest.raises(StoreSchemaError, match=r"no Claire store|is empty, not a Claire store"):
        head(url)
