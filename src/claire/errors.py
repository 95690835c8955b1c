"""The project's own error types. Adapters translate driver errors into these."""

from __future__ import annotations


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


class StoreUnavailableError(StoreError):
    """The database cannot be reached (after retries)."""


class StoreSchemaError(StoreError):
    """The database is not a Claire store this code can use: missing, empty, another
    application's, not a database at all, or of an older or newer schema. Never retried."""


class NotFoundError(ClaireError, LookupError):
    """An id or range that names nothing stored."""
