"""A read's page is planned the same on a freshly written, never analysed table as after
ANALYZE: a walk along the unique index from the cursor, never a scan of the rest plus a sort."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from claire.events import BaseEvent
from claire.store.port import page_query
from claire.store.postgres import PostgresEventStore
from rigs.factories import factory, trade

EVENTS = 12_000
PAGE = 2_000
CURSOR = 4_001


@pytest.fixture
def fresh(pg_url: str) -> Iterator[tuple[str, list[BaseEvent]]]:
    """A store whose table was just written and never analysed (autovacuum off for it)."""
    with PostgresEventStore(pg_url, create=True) as store:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE events SET (autovacuum_enabled = false)")
        f = factory()
        events: list[BaseEvent] = []
        while len(events) < EVENTS:
            events.extend(trade(f))
        for start in range(0, EVENTS, 1000):
            store.append(events[start : start + 1000])
        yield pg_url, events


def plan(url: str, sql: str, params: tuple[Any, ...]) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}".encode(), params).fetchone()
    assert row is not None
    top: dict[str, Any] = row[0][0]["Plan"]
    return top


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def rows_scanned(node: dict[str, Any]) -> int:
    return max(int(n["Actual Rows"]) for n in nodes(node) if "Scan" in n["Node Type"])


def test_a_page_walks_the_index_on_a_fresh_table_and_after_analyze(
    fresh: tuple[str, list[BaseEvent]],
) -> None:
    url, events = fresh
    with psycopg.connect(url, autocommit=True) as conn:
        stats = conn.execute(
            "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables"
            " WHERE relname = 'events'"
        ).fetchone()
    assert stats == (None, None)  # never analysed
    dense = page_query("%s")
    # The shape readers used before, on the same table: a bounded range and a limit is planned
    # from default estimates as a scan of the whole remaining range plus a sort, every page.
    bounded = page_query("%s", bounded=True)
    before = plan(url, bounded, (CURSOR, EVENTS, PAGE))
    assert "Sort" in {n["Node Type"] for n in nodes(before)}
    assert rows_scanned(before) == EVENTS - CURSOR + 1

    for analysed in (False, True):
        if analysed:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE events")
        page = plan(url, dense, (CURSOR, PAGE))
        kinds = [n["Node Type"] for n in nodes(page)]
        assert kinds == ["Limit", "Index Scan"], (analysed, kinds)
        assert page["Plans"][0]["Index Name"] == "events_sequence_number_key"
        assert rows_scanned(page) == PAGE

    with PostgresEventStore(url) as store:
        got = list(store.read(CURSOR, CURSOR + PAGE - 1, batch_size=500))
    assert got == [e.with_sequence(CURSOR + i) for i, e in enumerate(events[CURSOR - 1 :][:PAGE])]
