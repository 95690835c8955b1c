"""The one verdict every view shows: which of the three checks fails, in which words."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from claire.audit.vouch import NOT_STORED, VERIFIED, mark_documents, verdict
from claire.store.memory import MemoryEventStore
from claire.store.port import LinkedRecord
from rigs.factories import trade


def stored() -> tuple[LinkedRecord, MemoryEventStore]:
    """The signal of a stored trade (sequence 2 of 5), as a view fetches it."""
    store = MemoryEventStore()
    store.append(trade())
    return store.linked_records([2])[2], store


def edited(original: LinkedRecord, **changes: Any) -> LinkedRecord:
    return dataclasses.replace(original, record=dataclasses.replace(original.record, **changes))


def test_an_untouched_event_verifies_and_so_does_the_head() -> None:
    item, store = stored()
    assert verdict(item) == VERIFIED
    assert verdict(store.linked_records([5])[5]) == VERIFIED


def test_edited_bytes_edited_columns_and_a_recomputed_hash_are_told_apart() -> None:
    original, _ = stored()
    item = edited(original, canonical=original.record.canonical.replace(b"BUY", b"SELL"))
    assert verdict(item).problem == (
        "its hash does not recompute from prev_hash and the canonical bytes (the hashed bytes "
        "were edited)"
    )
    columns = {**original.record.columns, "payload": {}, "metadata": {}}
    assert verdict(edited(original, columns=columns)).problem == (
        "metadata, payload columns differ from the hashed bytes"
    )
    assert verdict(edited(original, prev_hash="zz")).verified is False
    rehashed = dataclasses.replace(original, next_prev_hash="ab" * 32)
    problem = verdict(rehashed).problem
    assert problem is not None and problem.startswith("the next event (3) committed to another")
    gap = dataclasses.replace(original, next_prev_hash=None, is_last=False)
    assert verdict(gap).problem == "the next event (3) is missing, so nothing vouches for this one"
    assert verdict(gap).mark.startswith("⚠ does not verify: the next event (3)")


def test_mark_documents_adds_the_verdict_in_one_pass() -> None:
    store = MemoryEventStore()
    store.append(trade())
    documents: list[dict[str, Any]] = [{"sequence_number": 1}, {"sequence_number": 9}, {}]
    mark_documents(store, documents)
    assert documents[0] | {} == {"sequence_number": 1, "verified": True, "problem": None}
    assert documents[1]["problem"] == NOT_STORED.problem
    assert documents[2] == {}
    assert orjson.dumps(documents)  # JSON-native
