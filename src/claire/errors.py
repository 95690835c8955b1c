"""The project's own error types. Adapters translate driver errors into these."""

from __future__ import annotations

from typing import Any


class ClaireError(Exception):
    """Base of every error Claire raises on purpose."""


class EventValidationError(ClaireError, ValueError):
    """An event (or its payload) is malformed. `problems` lists (field, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))


class StoreError(ClaireError):
    """The store refused or failed an operation."""


class EventConflictError(StoreError):
    """An event id is already stored with different content."""


class CausationError(StoreError):
    """A causation_id names no stored event and no earlier event of the same batch."""


class ConcurrencyError(StoreError):
    """A conditional append found the log other than the caller expected: another writer
    appended since the caller looked. Nothing of the batch was stored; read again, decide
    again, and retry with the new numbers.

    `kind` is "sequence" (`expected_sequence`: the head of the log) or "version"
    (`expected_version`: the events stored under `correlation_id`); `expected` is what the
    caller named, `actual` what the store holds, both read in the append's own transaction.
    """

    def __init__(
        self, kind: str, expected: int, actual: int, correlation_id: Any | None = None
    ) -> None:
        self.kind, self.expected, self.actual = kind, expected, actual
        self.correlation_id = correlation_id
        if kind == "sequence":
            what = (
                f"expected_sequence {expected}: the head of the log is sequence {actual}, "
                f"not {expected}"
            )
        else:
            what = (
                f"expected_version {expected}: {actual} events are stored under "
                f"correlation_id {correlation_id}, not {expected}"
            )
        super().__init__(
            f"conditional append refused, {what} (another writer appended since); nothing "
            "was stored"
        )


class ArchiveBoundaryError(StoreError):
    """`expected_version` counted archived events up to a boundary the hot store has since
    moved (a prune ran in between), or on a pruned hot store opened without its archive.
    The archive-aware store counts again; anyone else sees this message."""

    def __init__(self, pruned_through: int, counted_through: int) -> None:
        self.pruned_through, self.counted_through = pruned_through, counted_through
        super().__init__(
            f"expected_version cannot be checked: sequences 1..{pruned_through} of this store "
            f"were moved to the archive (counted through {counted_through}); open the store "
            "with CLAIRE_ARCHIVE_URL set so archived events of the correlation are counted"
        )


class ArchivedEventError(StoreError):
    """Ids of the batch were stored once and have since moved to the archive: only a store that
    reads the archive can tell a repeat (same content) from a conflict. `archived`: id -> its
    sequence number."""

    def __init__(self, archived: dict[Any, int]) -> None:
        self.archived = archived
        listed = ", ".join(f"{i} (sequence {s})" for i, s in sorted(archived.items(), key=str))
        super().__init__(
            f"already stored and since moved to the archive: {listed}; open the store with "
            "CLAIRE_ARCHIVE_URL set to compare their content"
        )


class StoreUnavailableError(StoreError):
    """The database cannot be reached (after retries)."""


class StoreSchemaError(StoreError):
    """The database is not a Claire store this code can use: missing, empty, another
    application's, not a database at all, or of an older or newer schema. Never retried."""


class NotFoundError(ClaireError, LookupError):
    """An id or range that names nothing stored."""
