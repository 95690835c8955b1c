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
