"""Which failures are the message's fault, and which are the environment's.

A passing outage is not a poison message. A message is dead-lettered only when it is proven bad
on its own: it failed validation, or the store refused exactly that event for its content
(same event_id with other content, a cause that never came, a value the database's types
cannot hold). Anything else — the database read-only after a failover, a revoked privilege, a
locked SQLite file, a full disk, a lost connection, an error nobody foresaw — is the
environment's: the batch stays pending in Redis (never acknowledged), the worker backs off and
tries again, and readiness says `degraded` meanwhile. When unsure, retry.
"""

from __future__ import annotations

import redis

from claire.errors import CausationError, EventConflictError, EventValidationError
from claire.supervision import Backoff

__all__ = ["REDIS_OUTAGES", "Backoff", "StoreOutageError", "is_per_event"]

# SQLSTATE class 22 ("data exception": a value out of range, an invalid text representation)
# is about the values of the row, so about one event; every other class (25 read-only
# transaction, 42501 insufficient privilege, 08 connection, 53 resources, 57 operator
# intervention, 40 serialisation, ...) is about the environment.
PER_EVENT_SQLSTATE_CLASSES = ("22",)


def is_per_event(exc: BaseException) -> bool:
    """Whether the store's refusal of a batch is about one of its events (so halving the batch
    finds that event), rather than about the store's environment."""
    if isinstance(exc, EventValidationError | EventConflictError | CausationError):
        return True
    return _sqlstate(exc).startswith(PER_EVENT_SQLSTATE_CLASSES)


def _sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of the driver error behind a store error ('' when there is none). Read by
    attribute, so this layer needs no database driver."""
    seen: BaseException | None = exc
    for _ in range(5):  # the adapter's error, then the driver's (`raise ... from exc`)
        if seen is None:
            break
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = seen.__cause__
    return ""


class StoreOutageError(Exception):
    """The store failed for a reason that is not one event's fault: retry the whole batch
    later, acknowledging nothing. `dependency` is 'store'."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.dependency = "store"


# Redis errors that are a passing outage (the worker reconnects and resumes). Any other Redis
# error (OOM under maxmemory, READONLY replica, a wrong type) is not expected: it ends the
# worker, and its supervisor restarts it with backoff (readiness `down` meanwhile).
REDIS_OUTAGES = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
