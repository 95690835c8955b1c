"""A session that stopped without session_finished is found, and noted once by the next one."""

from __future__ import annotations

import pytest

from claire.events import EventType
from claire.pipeline import PipelineConfig, SessionResult, record_demo
from claire.pipeline.interruptions import find_interrupted
from claire.store.memory import MemoryEventStore

CONFIG = PipelineConfig().with_overrides(
    {"session.snapshot_every": "200", "session.batch_size": "100"}
)


@pytest.fixture(scope="module")
def two_sessions() -> tuple[MemoryEventStore, SessionResult, SessionResult]:
    store = MemoryEventStore()
    first = record_demo(store, CONFIG, bars_per_symbol=100)
    second = record_demo(store, CONFIG, bars_per_symbol=300)
    assert second.total_events > 900 and second.snapshots > 3
    return store, first, second


@pytest.mark.parametrize("cut_after", [150, 700], ids=["before-its-snapshots", "after-some"])
def test_an_unfinished_session_is_noted_first_by_the_next_recording(
    two_sessions: tuple[MemoryEventStore, SessionResult, SessionResult], cut_after: int
) -> None:
    full, first, second = two_sessions
    # What a kill leaves: a prefix of the log, here the second session cut short.
    cut = first.last_sequence + cut_after
    store = MemoryEventStore()
    store.append(list(full.read(1, cut)))
    assert find_interrupted(full) is None
    found = find_interrupted(store)
    assert found is not None
    assert found.session_id == second.session_id
    assert (found.started_at, found.last_sequence) == (second.first_sequence, cut)

    result = record_demo(store, CONFIG, bars_per_symbol=100)
    assert result.interrupted is not None
    assert result.interrupted.noted_at == cut + 1 == result.first_sequence
    note = next(store.read(cut + 1, cut + 1))
    assert note.event_type is EventType.ALERT
    assert note.payload["level"] == "WARNING"
    assert note.payload["code"] == "session_interrupted"
    assert note.correlation_id == second.session_id
    assert note.payload["context"]["noted_by_session"] == str(result.session_id)
    assert next(store.read(cut + 2, cut + 2)).payload["code"] == "session_started"
    assert find_interrupted(store) is None
    assert record_demo(store, CONFIG, bars_per_symbol=100).interrupted is None
