"""Read baselines shared by the store and replay benchmarks: fetches with nothing decoded."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg.types.string import TextLoader

from benchmarks.common import Timer
from claire.store.port import CanonicalRows

COPY_OUT = (
    "COPY (SELECT sequence_number, canonical FROM events ORDER BY sequence_number)"
    " TO STDOUT (FORMAT BINARY)"
)


def per_second(count: int, seconds: float, expected: int) -> float:
    if count != expected:
        raise AssertionError(f"handled {count:,} events, expected {expected:,}")
    return count / seconds


def fetch_rate(pages: Iterable[CanonicalRows], expected: int) -> float:
    """The fair fetch: a reader's own pages (`range_pages`), undecoded."""
    timer, count = Timer(), 0
    for rows in pages:
        count += len(rows)
    return per_second(count, timer.seconds, expected)


def copy_binary_rate(url: str, expected: int) -> float:
    """COPY of the same two columns in binary, rows parsed into (int, bytes) like a fetch."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        timer, count = Timer(), 0
        with cur.copy(COPY_OUT) as copy:
            copy.set_types(["int8", "bytea"])
            for _ in copy.rows():
                count += 1
        return per_second(count, timer.seconds, expected)


def text_fetch_rate(url: str, expected: int) -> float:
    """Context only: every column over the text protocol, JSONB left as text."""
    with psycopg.connect(url) as conn:
        conn.adapters.register_loader("jsonb", TextLoader)
        timer, count = Timer(), 0
        with conn.cursor(name="wide_fetch") as cur:
            cur.itersize = 5000
            cur.execute("SELECT * FROM events ORDER BY sequence_number")
            while rows := cur.fetchmany(5000):
                count += len(rows)
        return per_second(count, timer.seconds, expected)
