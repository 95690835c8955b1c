"""Eight processes race conditional appends on one store (issue 15 §2), SQLite and PostgreSQL.

Each process reads the head and appends a batch of two events with `expected_sequence=head`,
over and over. Whatever the interleaving, no two appends may succeed against the same head;
every success must hold exactly the two sequences after the head it expected; the successes
the processes report must be exactly the events stored (nothing lost, nothing refused stored,
nothing twice); and the chain must verify.

Two ways to race:
- lockstep: every round, all eight read the head, wait for each other, then append: exactly
  one of them wins each round (a deterministic contention, no timing involved);
- free: each process loops on its own, as independent deciders would.
"""

from __future__ import annotations

import multiprocessing
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest

from claire.audit.verify import verify_log
from claire.errors import ConcurrencyError
from claire.events import BaseEvent
from claire.store import EventWriter, open_store
from rigs.factories import factory

WORKERS = 8
ROUNDS = 15  # lockstep: rounds of eight attempts
ATTEMPTS = 20  # free: attempts per process
BARRIER_TIMEOUT_S = 120.0


@dataclass
class Outcome:
    """What one process reports: its successes and refusals, or the error that stopped it."""

    worker: int
    successes: list[tuple[int, list[int], list[str]]] = field(default_factory=list)
    refusals: list[tuple[int, int]] = field(default_factory=list)  # (expected, actual)
    error: str | None = None


def decision(f: Any, worker: int, attempt: int) -> list[BaseEvent]:
    """Two events, the second caused by the first: what a decider would append at once."""
    trade_id = uuid.uuid4()
    seen = f.create_alert(
        level="INFO", code="seen", message=f"{worker}/{attempt}", correlation_id=trade_id
    )
    acted = f.create_alert(
        level="INFO",
        code="acted",
        message=f"{worker}/{attempt}",
        correlation_id=trade_id,
        causation_id=seen.event_id,
    )
    return [seen, acted]


def race(url: str, worker: int, mode: str, barrier: Barrier, results: Queue[Outcome]) -> None:
    outcome = Outcome(worker)
    try:
        f = factory(f"racer-{worker}")
        with open_store(url) as store:
            writer = EventWriter(store)
            barrier.wait(BARRIER_TIMEOUT_S)
            attempts = ROUNDS if mode == "lockstep" else ATTEMPTS
            for attempt in range(attempts):
                if mode == "lockstep":
                    barrier.wait(BARRIER_TIMEOUT_S)  # the previous round's appends are done
                head = store.head().sequence_number
                batch = decision(f, worker, attempt)
                if mode == "lockstep":
                    barrier.wait(BARRIER_TIMEOUT_S)  # everyone read the same head
                try:
                    numbers = writer.write(batch, expected_sequence=head)
                except ConcurrencyError as exc:
                    outcome.refusals.append((exc.expected, exc.actual))
                else:
                    outcome.successes.append((head, numbers, [str(e.event_id) for e in batch]))
    except BaseException:
        outcome.error = traceback.format_exc()
        barrier.abort()  # the others stop waiting for this one
    results.put(outcome)


@pytest.mark.parametrize("mode", ["lockstep", "free"])
def test_eight_processes_race_conditional_appends(store_url: str, mode: str) -> None:
    with open_store(store_url, create=True) as store:
        pass
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results: Queue[Outcome] = context.Queue()
    processes = [
        context.Process(target=race, args=(store_url, i, mode, barrier, results))
        for i in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    errors = [o.error for o in outcomes if o.error]
    assert not errors, errors[0]
    assert [p.exitcode for p in processes] == [0] * WORKERS

    successes = [s for o in outcomes for s in o.successes]
    refusals = [r for o in outcomes for r in o.refusals]
    attempts = WORKERS * (ROUNDS if mode == "lockstep" else ATTEMPTS)
    assert len(successes) + len(refusals) == attempts
    # No two appends succeeded against the same head, and each took the two sequences after it.
    heads = sorted(head for head, _, _ in successes)
    assert len(heads) == len(set(heads))
    for head, numbers, _ in successes:
        assert numbers == [head + 1, head + 2]
    # Every refusal named the head it expected and a later one it found.
    assert all(actual > expected for expected, actual in refusals)
    if mode == "lockstep":
        assert len(successes) == ROUNDS  # exactly one winner a round
        assert all(actual == expected + 2 for expected, actual in refusals)

    with open_store(store_url) as store:
        stored = list(store.read())
        # Successes reported == events stored: the same ids at the same sequences.
        claimed = {n: i for _, numbers, ids in successes for n, i in zip(numbers, ids, strict=True)}
        assert {e.sequence_number: str(e.event_id) for e in stored} == claimed
        assert [e.sequence_number for e in stored] == list(range(1, 2 * len(successes) + 1))
        assert heads == list(range(0, 2 * len(successes), 2))  # the log is the successes
        report = verify_log(store)
        assert report.ok, report.to_document()
