"""Eight writer processes append through the Python API while a reader tails the log.

The reader polls `read(from_sequence=last + 1)` as a projector would. It must see every event
once, with no gap, no duplicate and no reordering (each writer's events in the order it wrote
them), and the chain must verify afterwards, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import pytest

from claire.audit.verify import verify_log
from claire.events import BaseEvent
from claire.store import open_store
from rigs.factories import factory, trade

WRITERS = 8
TRADES = 10  # per writer: 50 events, some appended one by one, some as batches


def write(url: str, writer: int, start: ProcessEvent) -> None:
    f = factory(service=f"writer-{writer}")
    with open_store(url, create=True) as store:
        start.wait()
        for n in range(TRADES):
            events = trade(f)
            if n % 2:
                for event in events:
                    store.append(event)
            else:
                store.append(events)
            if n % 5 == 0:
                store.append(events[:2])  # a redelivery: stores nothing


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'concurrent.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_eight_writers_and_a_tailing_reader(url: str) -> None:
    total = WRITERS * TRADES * 5
    with open_store(url, create=True) as store:
        store.migrate()
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        writers = [context.Process(target=write, args=(url, i, start)) for i in range(WRITERS)]
        for process in writers:
            process.start()
        seen: list[BaseEvent] = []
        done = threading.Event()

        def tail() -> None:
            last = 0
            while len(seen) < total:
                page = list(store.read(from_sequence=last + 1, limit=200))
                seen.extend(page)
                if page:
                    last = page[-1].sequence_number or last
                elif done.is_set() and store.head().sequence_number == last:
                    return
                else:
                    time.sleep(0.005)

        reader = threading.Thread(target=tail)
        reader.start()
        start.set()
        for process in writers:
            process.join(timeout=180)
            assert process.exitcode == 0
        done.set()
        reader.join(timeout=60)
        assert not reader.is_alive()
        report = verify_log(store)

    assert report.ok, report.to_document()
    assert report.checked == total
    assert [e.sequence_number for e in seen] == list(range(1, total + 1)), "a gap or a repeat"
    assert len({e.event_id for e in seen}) == total, "an event stored twice"
    for writer in range(WRITERS):
        clocks = [e.timestamp_logical for e in seen if e.metadata.service == f"writer-{writer}"]
        assert len(clocks) == TRADES * 5
        assert clocks == sorted(clocks), f"writer-{writer}'s events were reordered"
