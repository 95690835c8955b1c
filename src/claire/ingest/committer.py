"""The store side of the ingest worker: append a validated batch, isolate the events the store
refuses on their own, then dead-letter and acknowledge what is settled (in that order).

A failure that is not one event's fault (see claire.ingest.faults) becomes a StoreOutageError:
nothing of the batch is acknowledged, and the worker retries it from Redis's pending list after
a backoff. Only per-event refusals are bisected: halving a batch during an outage would only
multiply the failing transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from claire.errors import CausationError, EventConflictError, EventValidationError
from claire.ingest.batches import DeadItem, Item, Outcome, Prepared
from claire.ingest.consumer import StreamConsumer
from claire.ingest.faults import StoreOutageError, is_per_event
from claire.ingest.metrics import timed_append
from claire.ingest.streams import IngestConfig, message_id_ms
from claire.redact import redact_error
from claire.store.facade import open_store
from claire.store.port import EventStore

log = logging.getLogger("claire.ingest")


@dataclass(slots=True)
class WorkerCounts:
    """What this worker did since it started (for logs, tests and benchmarks)."""

    stored: int = 0
    dead: int = 0
    batches: int = 0
    claimed: int = 0
    reconnects: int = 0


class StoreHandle:
    """The worker's store: given open, or opened from a URL (and reopened after an outage)."""

    def __init__(self, store: EventStore | str) -> None:
        self._url = store if isinstance(store, str) else None
        self._store: EventStore | None = None if isinstance(store, str) else store

    def get(self) -> EventStore:
        if self._store is None:
            assert self._url is not None
            self._store = open_store(self._url)
        return self._store

    def drop(self) -> None:
        """Forget a store opened from the URL (its connections may be broken)."""
        if self._url is None or self._store is None:
            return
        store, self._store = self._store, None
        try:
            store.close()
        except Exception:  # the connection is already broken; closing it may fail too
            log.debug("closing the broken store failed", exc_info=True)

    def close(self) -> None:
        if self._url is not None and self._store is not None:
            self._store.close()
            self._store = None


class Committer:
    """Commits prepared batches: store, then dead-letter and acknowledge in one MULTI."""

    def __init__(
        self,
        store: StoreHandle,
        consumer: StreamConsumer,
        config: IngestConfig,
        counts: WorkerCounts,
        on_commit: Callable[[list[Item]], None] | None = None,
    ) -> None:
        self.store, self.consumer, self.config = store, consumer, config
        self.counts, self.on_commit = counts, on_commit
        self._batch_now_ms: int | None = None

    def commit(self, batch: Prepared) -> bool:
        """Settle the batch; return whether some messages still wait for their cause.
        Raises StoreOutageError (nothing acknowledged) when the store itself is failing."""
        self._batch_now_ms = None  # Redis's clock, read once per batch and only when needed
        outcome = Outcome(dead=batch.dead)
        if batch.items:
            outcome = outcome + self._store_isolating(batch.items)
        settled = [i.message_id for i in outcome.stored] + [d.message_id for d in outcome.dead]
        self.consumer.settle(settled + batch.gone, outcome.dead)
        self.counts.batches += 1
        self.counts.stored += len(outcome.stored)
        self.counts.dead += len(outcome.dead)
        if outcome.stored and self.on_commit is not None:
            self.on_commit(outcome.stored)
        return bool(outcome.waiting)

    def _store_isolating(self, items: list[Item]) -> Outcome:
        """Append all in one transaction; if the store refuses one event for its content,
        halve until it is alone (a handful of extra transactions per poison message)."""
        try:
            self._append(items)
            return Outcome(stored=items)
        except Exception as exc:
            if not is_per_event(exc):
                raise StoreOutageError(f"the store failed: {redact_error(exc)}") from exc
            refusal = exc
        if len(items) == 1:
            return self._refused(items[0], refusal)
        middle = len(items) // 2
        return self._store_isolating(items[:middle]) + self._store_isolating(items[middle:])

    def _refused(self, item: Item, exc: Exception) -> Outcome:
        if isinstance(exc, CausationError):
            age_ms = self._now_ms() - message_id_ms(item.message_id)
            if age_ms < self.config.causation_grace_ms:
                return Outcome(waiting=[item])
            reason = (
                f"unknown cause: {exc} (waited {age_ms / 1000:.1f} s, "
                f"grace period {self.config.causation_grace_ms / 1000:.1f} s)"
            )
            kind = "causation"
        elif isinstance(exc, EventConflictError):
            reason, kind = f"conflict: {exc}", "conflict"
        elif isinstance(exc, EventValidationError):
            # The store could not encode an event that passed validation (e.g. its canonical
            # form grew past 1 MiB): that message's fault.
            reason, kind = f"invalid event: {exc}", "invalid"
        else:  # the database refused a value of this event (SQLSTATE class 22)
            reason, kind = f"store refused: {redact_error(exc)}", "refused"
        return Outcome(dead=[DeadItem(item.message_id, item.fields, reason, kind)])

    def _append(self, items: list[Item]) -> None:
        timed_append(self.store.get(), [i.event for i in items], "ingest")

    def _now_ms(self) -> int:
        """Redis's time (ms) when the batch's first missing cause was found."""
        if self._batch_now_ms is None:
            self._batch_now_ms = self.consumer.now_ms()
        return self._batch_now_ms


class CommitPipeline:
    """At most one batch committing in a background thread while the caller reads the next.

    Batches commit one after the other in the order submitted, so a cause in one batch is
    stored before its effects in the next. An error of the commit is raised by the next
    `submit` or `drain`, to the caller's own error handling.
    """

    def __init__(self, commit: Callable[[Prepared], bool]) -> None:
        self._commit = commit
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[bool] | None = None

    def submit(self, batch: Prepared) -> bool:
        """Wait for the batch in flight, then start committing `batch`.

        Returns whether the batch that finished left messages waiting for their cause."""
        waiting = self.drain()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claire-commit")
        self._in_flight = self._executor.submit(self._commit, batch)
        return waiting

    def drain(self) -> bool:
        """Wait for the batch in flight (if any); raise its error or return its `waiting`."""
        in_flight, self._in_flight = self._in_flight, None
        return in_flight.result() if in_flight is not None else False

    def close(self) -> None:
        """Stop the commit thread (after the batch in flight, if any)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
