"""BatchWriter: appends a session's batches in order on one background thread.

The recorder decides while the previous batch is being stored (the database's part of an
append, and much of the driver's, runs without the GIL). Batches are appended strictly in the
order submitted; each must receive exactly the sequence numbers the recorder predicted (it is
the session's only writer), because its snapshots name those numbers. The first failure stops
the writer, nothing after it is stored, and it is raised to the recorder on its next call.
"""

from __future__ import annotations

import queue
import threading

from claire.errors import ConcurrencyError, StoreError
from claire.events.model import BaseEvent
from claire.store.port import EventStore

QUEUE_DEPTH = 2  # batches waiting at most: bounds memory, keeps the writer busy


class BatchWriter:
    def __init__(self, store: EventStore, next_sequence: int) -> None:
        self.store = store
        self.next_sequence = next_sequence  # predicted number of the next event submitted
        self._queue: queue.Queue[tuple[list[BaseEvent], int] | None] = queue.Queue(QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="claire-batch-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: list[BaseEvent]) -> int:
        """Queue a batch; return the sequence number its last event will get."""
        self.raise_failure()
        first = self.next_sequence
        self.next_sequence += len(batch)
        self._queue.put((batch, first))
        return self.next_sequence - 1

    def close(self) -> None:
        """Wait until every submitted batch is stored; raise the first failure."""
        self._queue.put(None)
        self._thread.join()
        self.raise_failure()

    def abandon(self) -> None:
        """Stop after the batch in progress (the recorder failed); store nothing more."""
        if self._error is None:
            self._error = StoreError("recording stopped")
        self._queue.put(None)
        self._thread.join()

    def raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # after a failure nothing more is stored; drain until closed
            batch, first = item
            try:
                self._append(batch, first)
            except BaseException as exc:  # handed to the recorder's thread, never lost
                self._error = exc

    def _append(self, batch: list[BaseEvent], first: int) -> None:
        # Conditional on the head the recorder predicted: a batch behind another writer's
        # events is refused whole in the append's transaction (nothing of it stored), where
        # checking the returned numbers afterwards would find it stored at the wrong place.
        # It compares the head the append reads anyway: no query more.
        try:
            sequences = self.store.append(batch, expected_sequence=first - 1)
        except ConcurrencyError as exc:
            raise StoreError(
                f"another writer appended to the store during the session (the head is sequence "
                f"{exc.actual}, the session expected {exc.expected}); nothing of this batch was "
                "stored and snapshots would not match the log, so recording stopped"
            ) from exc
        expected = list(range(first, first + len(batch)))
        if sequences != expected:
            raise StoreError(
                f"another writer appended to the store during the session (expected sequences "
                f"{expected[0]}..{expected[-1]}, got {sequences[0]}..{sequences[-1]}); snapshots "
                "would not match the log, so recording stopped"
            )
