"""The integrity badge: "hash chain verified to sequence N", kept current in the background.

`IntegrityMonitor` walks the hash chain once from the start, then only what was appended since:
each pass continues from the last verified (sequence, hash) with the checks of `claire verify`
(claire.audit.verify.check_chain), so a request never scans the log. Each pass also re-reads
the last verified row: a tail cut off or rewritten after it was verified shows at once. (Edits
further back are what `claire verify` and signed checkpoints catch.)

With a checkpoint directory it also names the newest signed checkpoint there: whether a trusted
key signed it and whether the log still holds its sequence with its hash (re-read only when the
directory changes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claire.audit.checkpoint import read_directory
from claire.audit.checkpoint_verify import check_against_log
from claire.audit.keys import SigningKeyError, fingerprint, resolve_trusted_key, signature_problem
from claire.audit.verify import ChainBreak, Problem, check_chain
from claire.events.codec import GENESIS_HASH
from claire.store.port import EventStore

log = logging.getLogger(__name__)

CHUNK = 1000  # rows per pass: progress shows while a long log is first verified
INTERVAL_S = 1.0
# While it catches up, the thread rests as long as each pass took: verifying is pure Python and
# holds the GIL, and the requests of the person looking at the UI come first (measured: the
# first steps after opening the UI took 150-230 ms while a first pass ran, 35 ms without).
# Passes of CHUNK rows keep each stretch short.
REST_RATIO = 1.0


class IntegrityMonitor:
    """Verifies the chain incrementally on a daemon thread; `document()` is its latest word."""

    def __init__(
        self,
        store: Callable[[], EventStore],
        *,
        checkpoints: Path | None = None,
        interval: float = INTERVAL_S,
        chunk: int = CHUNK,
    ) -> None:
        self._store = store
        self._checkpoints = checkpoints
        self._checkpoint_seen: tuple[float, int] | None = None  # directory mtime, head
        self.checkpoint: dict[str, Any] | None = None
        self._interval, self._chunk = interval, chunk
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.verified_to, self.last_hash = 0, GENESIS_HASH
        self.head = 0
        self.first_break: ChainBreak | None = None
        self.error: str | None = None
        self._looked = False  # a pass has read the head at least once

    # --- the thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Start verifying (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="claire-integrity", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                busy = self.step()
                self.error = None
            except Exception as exc:  # the store is down: say so, try again later
                log.warning("integrity check failed: %s", exc)
                self.error = str(exc) or type(exc).__name__
                busy = False
            if not busy:
                self._stop.wait(self._interval)
            else:
                self._stop.wait((time.monotonic() - started) * REST_RATIO)

    # --- one pass --------------------------------------------------------------------------
    def step(self) -> bool:
        """Verify up to one chunk more; True while there is more to verify right away."""
        if self.first_break is not None:
            return False
        store = self._store()
        head = store.head().sequence_number
        self.head, self._looked = head, True
        self._look_at_checkpoints(store, head)
        if not self._tail_unchanged(store, head):
            return False
        if head <= self.verified_to:
            return False
        first = self.verified_to + 1
        last = min(head, first + self._chunk - 1)
        # One row beyond the chunk, so the chunk's last row is checked with its successor in
        # view (a swap shows only then); the next pass checks that row again.
        records = list(store.iter_records(first, min(head, last + 1)))
        report = check_chain(records, from_sequence=first, prev_hash=self.last_hash)
        if report.first_break is not None:
            self.first_break = report.first_break
            return False
        if last < head and len(records) > last - first + 1:
            self.verified_to, self.last_hash = last, records[last - first].hash
        elif report.last_sequence is not None and report.last_hash is not None:
            self.verified_to, self.last_hash = report.last_sequence, report.last_hash
        return self.verified_to < head

    def _tail_unchanged(self, store: EventStore, head: int) -> bool:
        verified = self.verified_to
        if verified == 0:
            return True
        if head < verified:
            self.first_break = ChainBreak(
                head + 1,
                Problem.MISSING,
                f"the log ends at sequence {head} but was verified up to {verified}: "
                "its tail was cut off (or an older backup restored)",
            )
            return False
        row = next(store.iter_records(verified, verified), None)
        if row is None or row.hash != self.last_hash:
            self.first_break = ChainBreak(
                verified,
                Problem.HASH,
                f"sequence {verified} no longer has the hash it was verified with "
                f"({self.last_hash[:16]}…): history was rewritten after verification",
            )
            return False
        return True

    def _look_at_checkpoints(self, store: EventStore, head: int) -> None:
        directory = self._checkpoints
        if directory is None or not directory.is_dir():
            return
        seen = (directory.stat().st_mtime, head)
        if seen == self._checkpoint_seen:
            return
        self._checkpoint_seen = seen
        self.checkpoint = newest_checkpoint(store, directory)

    # --- the answer ------------------------------------------------------------------------
    def status(self) -> str:
        if self.first_break is not None:
            return "broken"
        if self.error is not None:
            return "unavailable"
        if not self._looked or self.verified_to < self.head:
            return "verifying"
        return "verified"

    def document(self) -> dict[str, Any]:
        broken = self.first_break
        return {
            "status": self.status(),
            "verified_to_sequence": self.verified_to,
            "head_sequence": self.head,
            "first_break": broken.to_document() if broken else None,
            "error": self.error,
            "checkpoint": self.checkpoint,
        }


def newest_checkpoint(store: EventStore, directory: Path) -> dict[str, Any] | None:
    """The newest checkpoint file in `directory`: who signed it, whether that key is trusted
    (claire.audit.keys), and whether the log still holds its sequence with its hash."""
    found = [f.checkpoint for f in read_directory(directory) if f.checkpoint is not None]
    if not found:
        return None
    newest = max(found, key=lambda c: (c.number or 0, c.sequence_number, c.created_at))
    try:
        problem = signature_problem(newest.statement, resolve_trusted_key())
    except SigningKeyError as exc:
        problem = str(exc)
    (held,) = check_against_log(store, [newest])
    return {
        "sequence_number": newest.sequence_number,
        "created_at": newest.created_at,
        "key_fingerprint": fingerprint(newest.public_key),
        "trusted": problem is None,
        "matches_log": held.ok,
        "problem": problem or held.problem,
    }


__all__ = ["IntegrityMonitor"]
