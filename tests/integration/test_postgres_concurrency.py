"""Several writer processes and a tailing reader against one PostgreSQL database.

The reader polls `sequence_number > last_seen`, as a projector or replicator would. The store
assigns the global sequence in commit order, so the reader must see every event exactly once,
gaplessly and in order, however the writers' transactions interleave.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from multiprocessing.synchronize import Event as ProcessEvent
from uuid import UUID

import pytest

from claire.events import GENESIS_HASH, BaseEvent, chain_hash
from claire.store import EventStore, open_store
from rigs.factories import factory, trade

WRITERS = 4
TRADES_PER_WRITER = 60  # 5 events each: 300 events per writer
TOTAL = WRITERS * TRADES_PER_WRITER * 5


def write_trades(url: str, writer: int, start: ProcessEvent) -> None:
    """One writer process: 60 trades in batches of 1 to 10 events, some appended twice."""
    f = factory(service=f"writer-{writer}")
    with open_store(url, create=True) as store:
        start.wait()
        for n in range(TRADES_PER_WRITER):
            events = trade(f)
            if n % 3 == 0:
                for event in events:  # one event a transaction
                    store.append(event)
            else:
                store.append(events)
            if n % 7 == 0:
                store.append(events)  # a redelivery: stores nothing


def tail(store: EventStore, stop: threading.Event, seen: list[BaseEvent]) -> None:
    """Poll for events after the last one seen until every event arrived or `stop` is set."""
    last = 0
    while len(seen) < TOTAL and not stop.is_set():
        page = list(store.read(last + 1, limit=100))
        seen.extend(page)
        if page:
            last = page[-1].sequence_number or last
        else:
            stop.wait(0.005)


@pytest.fixture
def store(pg_url: str) -> Iterator[EventStore]:
    with open_store(pg_url, create=True) as store:
        yield store


def test_concurrent_writers_and_a_tailing_reader(pg_url: str, store: EventStore) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [
        context.Process(target=write_trades, args=(pg_url, i, start)) for i in range(WRITERS)
    ]
    for process in writers:
        process.start()
    seen: list[BaseEvent] = []
    stop = threading.Event()
    reader = threading.Thread(target=tail, args=(store, stop, seen))
    reader.start()
    start.set()
    for process in writers:
        process.join(timeout=120)
    reader.join(timeout=30)
    stop.set()
    reader.join()
    assert [p.exitcode for p in writers] == [0] * WRITERS

    assert [e.sequence_number for e in seen] == list(range(1, TOTAL + 1))
    assert len({e.event_id for e in seen}) == TOTAL
    stored = list(store.read())
    assert [e.event_id for e in stored] == [e.event_id for e in seen]
    services = sorted({e.metadata.service for e in stored})
    assert services == [f"writer-{i}" for i in range(WRITERS)]
    # Within one writer the causes always precede their effects.
    position = {e.event_id: e.sequence_number or 0 for e in stored}
    for event in stored:
        if event.causation_id is not None:
            assert position[event.causation_id] < (event.sequence_number or 0)
    assert_chain_verifies(store, TOTAL)


def assert_chain_verifies(store: EventStore, count: int) -> None:
    prev = GENESIS_HASH
    ids: set[UUID] = set()
    for number, record in enumerate(store.iter_records(), start=1):
        assert record.sequence_number == number
        assert record.prev_hash == prev
        assert record.hash == chain_hash(prev, record.canonical)
        assert record.columns_canonical() == record.canonical
        ids.add(UUID(record.event_id))
        prev = record.hash
    assert len(ids) == count
    assert store.head().hash == prev
