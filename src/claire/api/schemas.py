"""Response documents, as the OpenAPI schema at /docs describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from claire.events.payloads import EventType

# Sequence numbers are PostgreSQL BIGINTs.
MAX_SEQUENCE = 2**63 - 1
MAX_PAGE = 10_000
# The documented limit of a POST /events body (one event or a batch).
MAX_BODY_BYTES = 1024 * 1024


class Problem(BaseModel):
    field: str = Field(
        description="Where the problem is, e.g. query.limit or events[2].payload.price"
    )
    reason: str


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    error: str = Field(description="What went wrong, in one sentence")
    status: int
    problems: list[Problem] = Field(default_factory=list)


VERIFIED_HELP = (
    "Whether the hash chain vouches for this event: its hash recomputes from prev_hash and its "
    "canonical bytes, its JSON columns equal those bytes, and the next event's prev_hash is its "
    "hash"
)
PROBLEM_HELP = (
    "Why not, when verified is false (e.g. 'payload column differs from the hashed bytes')"
)


class EventDocument(BaseModel):
    """A stored event: its canonical form plus the store's sequence number and its verdict."""

    event_id: str
    event_type: EventType
    sequence_number: int | None
    timestamp_utc: str
    timestamp_logical: int
    causation_id: str | None
    correlation_id: str
    metadata: dict[str, Any]
    payload: dict[str, Any]
    verified: bool = Field(description=VERIFIED_HELP)
    problem: str | None = Field(description=PROBLEM_HELP)


class RecordDocument(BaseModel):
    """The stored row of an event as the hash chain sees it."""

    sequence_number: int
    event_id: str
    prev_hash: str
    hash: str
    canonical: str = Field(description="The stored canonical JSON text, exactly what was hashed")
    verified: bool = Field(description=VERIFIED_HELP)
    problem: str | None = Field(description=PROBLEM_HELP)


class EventPage(BaseModel):
    events: list[EventDocument]
    count: int
    next_from_sequence: int | None = Field(
        description="Pass as from_sequence to get the next page; null when this page is the last"
    )


class CausationChain(BaseModel):
    event_id: str
    depth: int = Field(description="Number of ancestors before the event")
    chain: list[EventDocument] = Field(description="Root cause first, the event itself last")


class TypeCount(BaseModel):
    event_type: str
    count: int
    first: str
    last: str


class StatsDocument(BaseModel):
    total_events: int
    head_sequence: int
    head_hash: str
    event_types: list[TypeCount]


class AppendResult(BaseModel):
    count: int
    sequence_numbers: list[int]


class PreconditionFailed(ErrorResponse):
    """POST /events with If-Match: the head of the log was not the sequence named."""

    expected_sequence: int = Field(description="The head the If-Match header named")
    head_sequence: int = Field(
        description="The head of the log when the append was refused (send it as If-Match "
        "once you have read and decided again)"
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse} for code in codes}
