"""Which snapshot a fold starts from, whether it was verified, and what the doors refuse."""

from __future__ import annotations

import uuid

import pytest

from claire.events import EventType
from claire.ingest.admission import UntrustedEventError, refuse_untrusted, trusted_services
from claire.pipeline import PipelineConfig, record_demo
from claire.replay.validate import validate
from claire.replay.verification import record_verifications
from claire.state.snapshots import SNAPSHOT_VERIFIED, starting_point
from claire.store.memory import MemoryEventStore
from rigs.factories import factory

CONFIG = PipelineConfig().with_overrides(
    {"session.snapshot_every": "200", "session.batch_size": "100"}
)


def test_verification_records_and_verify_before_use() -> None:
    store = MemoryEventStore()
    record_demo(store, CONFIG, bars_per_symbol=300)
    head = store.head().sequence_number
    snapshots = list(store.read(event_types=[EventType.STATE_SNAPSHOT]))
    assert len(snapshots) >= 4

    plain = starting_point(store, head)
    assert plain.snapshot is not None and not plain.snapshot.verified
    assert plain.snapshot.status() == "not yet verified"
    # Checked before use: nothing is verified yet, so the fold runs from the start.
    checked = starting_point(store, head, verify=True)
    assert checked.snapshot is not None and checked.snapshot.checked_from == 0
    assert checked.folded == checked.snapshot.at_sequence
    assert checked.state.hash() == plain.state.hash() and checked.rejected is None

    # validate over the first half verifies its snapshots; recording them twice adds nothing.
    middle = snapshots[len(snapshots) // 2].sequence_number or 0
    report = validate(store, 1, middle)
    assert report.deterministic and report.matched_snapshots
    first = record_verifications(store, report.matched_snapshots)
    assert len(first.recorded) == len(report.matched_snapshots) and first.already == 0
    again = record_verifications(store, report.matched_snapshots)
    assert again.recorded == [] and again.already == len(report.matched_snapshots)
    record = next(store.read(first.recorded[0], first.recorded[0]))
    assert record.payload["code"] == SNAPSHOT_VERIFIED
    assert record.causation_id == report.matched_snapshots[0].event_id

    verified = starting_point(store, middle)
    assert verified.snapshot is not None and verified.snapshot.verified_by in first.recorded
    assert verified.snapshot.status().startswith("verified (record at sequence ")
    # The newest snapshot is checked from the newest verified point, not from the start.
    newest = starting_point(store, head, verify=True)
    assert newest.snapshot is not None
    assert newest.snapshot.checked_from == verified.snapshot.at_sequence
    assert newest.folded == newest.snapshot.at_sequence - verified.snapshot.at_sequence


def test_the_doors_refuse_what_only_the_pipeline_writes() -> None:
    f = factory("outside")
    corr = uuid.uuid4()
    snapshot = f.create_state_snapshot(
        at_sequence=1, state={}, state_hash="a" * 64, correlation_id=corr
    )
    record = f.create_alert(
        level="INFO", code=SNAPSHOT_VERIFIED, message="trust me", context={}, correlation_id=corr
    )
    ordinary = f.create_alert(
        level="INFO", code="note", message="hi", context={}, correlation_id=corr
    )
    with pytest.raises(UntrustedEventError) as refused:
        refuse_untrusted([ordinary, snapshot, record], trusted=frozenset({"someone-else"}))
    fields = [field for field, _ in refused.value.problems]
    assert fields == ["events[1].metadata.service", "events[2].metadata.service"]
    assert "may not send state_snapshot events" in str(refused.value)
    assert "may not send snapshot_verified alerts" in str(refused.value)
    with pytest.raises(UntrustedEventError, match=r"^metadata\.service: service 'outside'"):
        refuse_untrusted([snapshot], trusted=frozenset())
    refuse_untrusted([ordinary, snapshot, record], trusted=trusted_services(" x, outside ,,"))
    assert trusted_services(None) == frozenset()


def test_a_snapshot_whose_state_is_no_state_is_not_used() -> None:
    # A trusted service can still send a state this code never wrote (the API fuzzer did):
    # the fold starts from the beginning and says why, instead of failing with a KeyError.
    store = MemoryEventStore()
    f = factory("recorder")
    store.append(f.create_alert(level="INFO", code="x", message="x", correlation_id=uuid.uuid4()))
    store.append(
        f.create_state_snapshot(
            at_sequence=1,
            state={"nothing": "here"},
            state_hash="a" * 64,
            correlation_id=uuid.uuid4(),
        )
    )
    start = starting_point(store, 2)
    assert start.snapshot is None and start.state.last_sequence == 0
    assert start.rejected is not None and "its state is not a state document" in start.rejected
