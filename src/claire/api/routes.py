"""The seed's read endpoints, /stats and POST /events. Thin: parse, call, render.
(The health endpoints are in claire.api.health.)

Read endpoints are plain `def`: the store is synchronous, so FastAPI runs them in its
threadpool and the event loop never blocks on the database.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from claire.api.auth import ReadAccess, WriteAccess
from claire.api.errors import ApiError
from claire.api.schemas import (
    MAX_BODY_BYTES,
    MAX_PAGE,
    MAX_SEQUENCE,
    AppendResult,
    CausationChain,
    EventDocument,
    EventPage,
    PreconditionFailed,
    RecordDocument,
    StatsDocument,
    error_responses,
)
from claire.api.services import Services, services
from claire.audit.explain import explain_event
from claire.audit.summary import event_document
from claire.audit.trace import trace_correlation
from claire.audit.vouch import mark_documents, verdict
from claire.errors import ConcurrencyError, EventValidationError, NotFoundError
from claire.events.codec import load_json
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.ingest.admission import refuse_untrusted
from claire.ingest.metrics import timed_append

router = APIRouter()
Svc = Annotated[Services, Depends(services)]
Sequence = Annotated[int, Query(ge=1, le=MAX_SEQUENCE)]
READ_ERRORS = error_responses(401, 422, 503)


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


@router.get(
    "/events",
    response_model=None,
    responses={200: {"model": EventPage}, **READ_ERRORS},
    dependencies=[ReadAccess],
    summary="Events in sequence order, paged by sequence number",
)
def list_events(
    svc: Svc,
    *,
    from_sequence: Sequence = 1,
    to_sequence: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    event_type: EventType | None = None,
    correlation_id: UUID | None = None,
) -> Response:
    if to_sequence is not None and to_sequence < from_sequence:
        raise ApiError(
            422,
            f"empty range: to_sequence {to_sequence} is below from_sequence {from_sequence}",
            [("query.to_sequence", f"must be {from_sequence} or more")],
        )
    events = list(
        svc.reader.read(
            from_sequence,
            to_sequence,
            limit=limit,
            event_types=[event_type] if event_type else None,
            correlation_id=correlation_id,
        )
    )
    last = events[-1].sequence_number if events else None
    more = len(events) == limit and last is not None and last != to_sequence
    documents = [event_document(e) for e in events]
    mark_documents(svc.reader, documents)
    return json_response(
        {
            "events": documents,
            "count": len(events),
            "next_from_sequence": last + 1 if more and last is not None else None,
        }
    )


def _not_found(event_id: UUID) -> NotFoundError:
    return NotFoundError(f"no event with event_id {event_id}")


@router.get(
    "/events/{event_id}",
    response_model=None,
    responses={200: {"model": EventDocument}, **error_responses(401, 404, 422, 503)},
    dependencies=[ReadAccess],
    summary="One event by its event_id",
)
def get_event(svc: Svc, event_id: UUID) -> Response:
    event = svc.reader.get(event_id)
    if event is None:
        raise _not_found(event_id)
    document = event_document(event)
    mark_documents(svc.reader, [document])
    return json_response(document)


@router.get(
    "/events/{event_id}/record",
    response_model=None,
    responses={200: {"model": RecordDocument}, **error_responses(401, 404, 422, 503)},
    dependencies=[ReadAccess],
    summary="The stored row of an event: hashes, the exact canonical bytes, and its verdict",
)
def get_record(svc: Svc, event_id: UUID) -> Response:
    event = svc.reader.get(event_id)
    if event is None or event.sequence_number is None:
        raise _not_found(event_id)
    linked = svc.reader.linked_records([event.sequence_number]).get(event.sequence_number)
    if linked is None:  # removed between the two reads
        raise _not_found(event_id)
    record = linked.record
    return json_response(
        {
            "sequence_number": record.sequence_number,
            "event_id": record.event_id,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
            "canonical": record.canonical.decode("utf-8", errors="replace"),
            **verdict(linked).to_document(),
        }
    )


@router.get(
    "/events/{event_id}/causation",
    response_model=None,
    responses={200: {"model": CausationChain}, **error_responses(401, 404, 422, 503)},
    dependencies=[ReadAccess],
    summary="The causation chain of an event, root cause first",
)
def get_causation(svc: Svc, event_id: UUID) -> Response:
    chain = svc.reader.causation_chain(event_id)
    if not chain:
        raise _not_found(event_id)
    documents = [event_document(e) for e in chain]
    mark_documents(svc.reader, documents)
    return json_response({"event_id": str(event_id), "depth": len(chain) - 1, "chain": documents})


@router.get(
    "/events/{event_id}/explain",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **error_responses(401, 404, 422, 503)},
    dependencies=[ReadAccess],
    summary="Why this happened: the decision, its inputs and its effects",
)
def get_explanation(svc: Svc, event_id: UUID) -> Response:
    return json_response(explain_event(svc.reader, event_id).to_document())


@router.get(
    "/correlations/{correlation_id}",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **error_responses(401, 404, 422, 503)},
    dependencies=[ReadAccess],
    summary="Every event of one trade (correlation id), in order",
)
def get_correlation(svc: Svc, correlation_id: UUID) -> Response:
    return json_response(trace_correlation(svc.reader, correlation_id).to_document())


@router.get(
    "/stats",
    response_model=None,
    responses={200: {"model": StatsDocument}, **error_responses(401, 503)},
    dependencies=[ReadAccess],
    summary="Counts per event type and the head of the log",
)
def get_stats(svc: Svc) -> Response:
    head = svc.reader.head()
    types = svc.reader.stats()
    return json_response(
        {
            "total_events": sum(t.count for t in types),
            "head_sequence": head.sequence_number,
            "head_hash": head.hash,
            "event_types": [
                {
                    "event_type": t.event_type,
                    "count": t.count,
                    "first": format_utc(t.first),
                    "last": format_utc(t.last),
                }
                for t in types
            ],
        }
    )


APPEND_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/EventInput"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/EventInput"},
                        "minItems": 1,  # an empty batch is refused (422)
                        "maxItems": MAX_PAGE,
                    },
                ]
            }
        }
    },
}


# If-Match: the head the client expects, as a number or a strong entity tag ("42"). At most 18
# digits: every such number is a valid sequence (MAX_SEQUENCE has 19).
IF_MATCH_PATTERN = r'^(?:[0-9]{1,18}|"[0-9]{1,18}")$'
IF_MATCH_HELP = (
    "Conditional append (optimistic concurrency): the sequence number of the head of the log "
    'the client decided on, e.g. `If-Match: 42` or `If-Match: "42"` (0: the log is empty; '
    "read it as `head_sequence` from GET /stats). The batch is stored only if the head is "
    "still that sequence, checked atomically with the append; otherwise 412 with "
    "`expected_sequence` and `head_sequence`, and nothing is stored. A batch that is entirely "
    "stored already (a retry) is answered 201 with its sequence numbers. `*` and weak tags "
    "(`W/...`) are refused (422). Without the header the append is unconditional."
)
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", pattern=IF_MATCH_PATTERN, max_length=20, description=IF_MATCH_HELP),
]


@router.post(
    "/events",
    response_model=None,
    status_code=201,
    responses={
        201: {"model": AppendResult},
        412: {
            "model": PreconditionFailed,
            "description": "If-Match named another head: nothing was stored",
        },
        **error_responses(401, 403, 409, 413, 422, 503),
    },
    dependencies=[WriteAccess],
    openapi_extra={"requestBody": APPEND_BODY},
    summary="Append one event or a batch (needs the write token; body at most 1 MiB); "
    "If-Match makes it conditional on the head",
)
async def post_events(request: Request, svc: Svc, if_match: IfMatch = None) -> Response:
    events = parse_events(await read_body(request))
    refuse_untrusted(events, svc.ingest.trusted_snapshot_services)
    expected = None if if_match is None else int(if_match.strip('"'))
    append = partial(timed_append, svc.store, events, "http", expected_sequence=expected)
    try:
        sequence_numbers = await anyio.to_thread.run_sync(append)
    except ConcurrencyError as exc:
        raise ApiError(
            412,
            f"If-Match: {exc}",
            [("header.If-Match", f"the head is sequence {exc.actual}, not {exc.expected}")],
            extra={"expected_sequence": exc.expected, "head_sequence": exc.actual},
        ) from None
    return json_response({"count": len(events), "sequence_numbers": sequence_numbers}, 201)


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int) -> ApiError:
    return ApiError(
        413,
        f"request body of {size} bytes or more is larger than the limit of {MAX_BODY_BYTES} "
        "bytes (1 MiB); send smaller batches",
        [("body", f"at most {MAX_BODY_BYTES} bytes")],
    )


def parse_events(body: bytes) -> list[BaseEvent]:
    try:
        document = load_json(body, "body")  # integers beyond 64 bits stay exact (and refused)
    except EventValidationError as exc:
        reason = exc.problems[0][1]
        raise ApiError(422, f"the body is {reason}", [("body", reason)]) from None
    if isinstance(document, dict):
        return [BaseEvent.parse(document)]
    if not isinstance(document, list) or not document:
        raise ApiError(
            422,
            "the body must be one event (a JSON object) or a non-empty array of events",
            [("body", f"got {type(document).__name__ if document != [] else 'an empty array'}")],
        )
    if len(document) > MAX_PAGE:
        raise ApiError(
            422,
            f"a batch holds at most {MAX_PAGE} events, got {len(document)}",
            [("body", f"at most {MAX_PAGE} items")],
        )
    events: list[BaseEvent] = []
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            problems.append((f"events[{index}]", "expected a JSON object"))
            continue
        try:
            events.append(BaseEvent.parse(item))
        except EventValidationError as exc:
            problems.extend((f"events[{index}].{field}", reason) for field, reason in exc.problems)
    if problems:
        raise EventValidationError(problems)
    return events
