"""GET /events/stream: a live tail over Server-Sent Events that never skips an event.

It catches up from the store, then polls it by sequence number. Sequence numbers are gapless
in commit order (the store assigns them inside the append transaction), so asking for
"sequence >= next" never passes over an event that commits late. Each SSE message carries the
sequence number as its `id`, so a reconnecting EventSource resumes with Last-Event-ID.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from claire.api.auth import ReadAccess
from claire.api.errors import ApiError
from claire.api.routes import Svc
from claire.api.schemas import MAX_SEQUENCE, error_responses
from claire.audit.summary import event_document
from claire.audit.vouch import mark_documents
from claire.store.port import EventStore

router = APIRouter()

PAGE = 500
POLL_INTERVAL_S = 0.1
KEEPALIVE_S = 15.0
LAST_EVENT_ID_PATTERN = "^[0-9]{0,18}$"


# Before OpenAPI 3.2 the `schema` of text/event-stream describes one SSE message (as clients
# and schemathesis parse it), not the stream as one string.
SSE_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The sequence number"},
        "event": {"const": "event"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/EventDocument"},
            "description": "The event as JSON (an EventDocument)",
        },
    },
}


def _start(store: EventStore, from_sequence: int | None, last_event_id: str | None) -> int:
    if last_event_id is not None:
        # isascii(): str.isdigit() is true for superscripts like "²", which int() refuses.
        valid = last_event_id.isascii() and last_event_id.isdigit()
        if not valid or int(last_event_id) >= MAX_SEQUENCE:
            raise ApiError(
                422,
                f"Last-Event-ID {last_event_id[:40]!r} is not a sequence number",
                [("header.Last-Event-ID", "must be the id of an event this stream sent")],
            )
        return int(last_event_id) + 1
    if from_sequence is not None:
        return from_sequence
    return store.head().sequence_number + 1


def _page(store: EventStore, from_sequence: int) -> list[dict[str, Any]]:
    """The next page as event documents, each with the chain's verdict (one more query)."""
    documents = [event_document(e) for e in store.read(from_sequence, limit=PAGE)]
    mark_documents(store, documents)
    return documents


def _message(document: dict[str, Any]) -> bytes:
    return (
        b"id: %d\nevent: event\ndata: " % document["sequence_number"]
        + orjson.dumps(document)
        + b"\n\n"
    )


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
            "description": "SSE messages `id: <sequence>`, `event: event`, `data: <event JSON>`",
        },
        **error_responses(401, 422, 503),
    },
    dependencies=[ReadAccess],
    summary="Live tail (SSE): stored events from from_sequence, then new ones as they commit",
)
async def stream_events(
    request: Request,
    svc: Svc,
    from_sequence: Annotated[
        int | None,
        Query(ge=1, le=MAX_SEQUENCE, description="First sequence to send (default: new only)"),
    ] = None,
    max_events: Annotated[
        int | None, Query(ge=1, le=10**9, description="Close after this many events")
    ] = None,
    # Typed `str` with "" for absent (as EventSource omits an empty id): `str | None` would
    # document a null header, which HTTP cannot send. 18 digits keep id + 1 inside a BIGINT.
    last_event_id: Annotated[
        str,
        Header(
            alias="Last-Event-ID",
            pattern=LAST_EVENT_ID_PATTERN,
            description="Resume after this sequence number (sent by a reconnecting EventSource)",
        ),
    ] = "",
) -> StreamingResponse:
    store = svc.reader
    start = await anyio.to_thread.run_sync(_start, store, from_sequence, last_event_id or None)

    async def messages() -> AsyncIterator[bytes]:
        next_sequence, sent = start, 0
        quiet_since = time.monotonic()
        yield b"retry: 1000\n\n"
        while not await request.is_disconnected():
            page = await anyio.to_thread.run_sync(_page, store, next_sequence)
            for document in page:
                yield _message(document)
                next_sequence = document["sequence_number"] + 1
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
            if page:
                quiet_since = time.monotonic()
            if len(page) < PAGE:
                if time.monotonic() - quiet_since > KEEPALIVE_S:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
                await anyio.sleep(POLL_INTERVAL_S)

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
