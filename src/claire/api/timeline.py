"""The timeline endpoints (issue 10): ask the log by time and symbol; the data of the web UI.

Thin: parse the query, call claire.timeline, serve its document. The contract the UI codes
against is docs/timeline.md. Times are parsed by claire.timeline.when (as the CLI parses
them); a bad one is a 422 naming the parameter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from claire.api.auth import ReadAccess
from claire.api.errors import ApiError
from claire.api.routes import Svc, json_response, read_body
from claire.api.schemas import MAX_SEQUENCE, error_responses
from claire.api.services import Services
from claire.errors import NotFoundError
from claire.events.payloads import EventType
from claire.replay.pipelines import (
    OverrideError,
    PipelineSpecError,
    RecordedConfigError,
    VersionUnavailableError,
)
from claire.store.port import EventStore
from claire.timeline import browse
from claire.timeline.cache import PrefixCache
from claire.timeline.equity import equity_curve
from claire.timeline.explain_at import explain_at
from claire.timeline.integrity import IntegrityMonitor
from claire.timeline.markers import markers
from claire.timeline.moment import Bounds, sequence_range
from claire.timeline.scene import build_scene
from claire.timeline.series import DEFAULT_MAX_POINTS, series
from claire.timeline.symbols import SymbolCatalog
from claire.timeline.whatif import what_if_chart
from claire.timeline.when import FORMS, TimeFormatError, iso, parse_time

router = APIRouter(tags=["timeline"])
ERRORS = error_responses(401, 404, 422, 503)
MAX_POINTS = 20_000
MAX_AROUND = 500
TIME_HELP = f"A time ({FORMS}); no offset means UTC."

TimeParam = Annotated[str | None, Query(description=TIME_HELP)]
FromParam = Annotated[str | None, Query(alias="from", description=f"Start, inclusive. {TIME_HELP}")]
ToParam = Annotated[str | None, Query(alias="to", description=f"End, exclusive. {TIME_HELP}")]
MaxPoints = Annotated[int, Query(ge=1, le=MAX_POINTS, description="At most this many points.")]
SymbolParam = Annotated[str | None, Query(min_length=1, max_length=40)]
SequenceParam = Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE)]


class TimelineState:
    """What the timeline keeps between requests, owned by the app."""

    def __init__(self, svc: Services) -> None:
        self.symbols = SymbolCatalog()
        # Series and equity curves of ranges already asked (see claire.timeline.cache).
        self.cache = PrefixCache()
        # One what-if at a time: it re-executes a whole range and the service is shared.
        self.what_if = threading.Semaphore(1)
        # Started by the first GET /integrity: a service nobody asks does not verify.
        directory = svc.settings.checkpoint_dir
        self.integrity = IntegrityMonitor(
            lambda: svc.reader, checkpoints=Path(directory) if directory else None
        )

    def close(self) -> None:
        self.integrity.stop()


def install(app: FastAPI, svc: Services) -> None:
    """Mount the timeline endpoints and their state on the app."""
    app.state.timeline = TimelineState(svc)
    app.include_router(router)


def close(app: FastAPI) -> None:
    state: TimelineState | None = getattr(app.state, "timeline", None)
    if state is not None:
        state.close()


def _state(request: Request) -> TimelineState:
    found: TimelineState = request.app.state.timeline
    return found


def _cached(
    request: Request,
    store: EventStore,
    key: tuple[Hashable, ...],
    bounds: Bounds,
    build: Callable[[], Any],
) -> Response:
    """An answer that depends on the log up to the range's end only (claire.timeline.cache)."""
    first, last = bounds if bounds is not None else (None, None)
    data = _state(request).cache.get_or_build(store, (*key, first), last, build)
    return Response(data, media_type="application/json")


def _time(text: str | None, parameter: str) -> datetime | None:
    """`parameter` names where the text came from, e.g. query.at or body.from."""
    if text is None:
        return None
    try:
        return parse_time(text, parameter)
    except TimeFormatError as exc:
        raise ApiError(422, str(exc), [(exc.name, exc.reason)]) from None


def _range(
    start: str | None, end: str | None, where: str = "query"
) -> tuple[datetime | None, datetime | None]:
    first, last = _time(start, f"{where}.from"), _time(end, f"{where}.to")
    if first is not None and last is not None and first >= last:
        raise ApiError(
            422,
            f"empty range: from {start} is not before to {end}",
            [(f"{where}.to", "must be after from")],
        )
    return first, last


def _types(text: str | None) -> list[EventType] | None:
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = {t.value for t in EventType}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ApiError(
            422,
            f"unknown event type {unknown[0]!r} in types (known: {', '.join(sorted(known))})",
            [("query.types", f"unknown event type {unknown[0]!r}")],
        )
    return [EventType(name) for name in names]


def _moment(at: str | None, sequence: int | None) -> tuple[datetime | None, int | None]:
    if (at is None) == (sequence is None):
        raise ApiError(
            422, "give either at=TIME or sequence=N", [("query.at", "give at or sequence")]
        )
    return _time(at, "query.at"), sequence


@router.get(
    "/symbols",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="The symbols in the log (bars, first and last time) and the log's time span",
)
def get_symbols(request: Request, svc: Svc) -> Response:
    return json_response(_state(request).symbols.document(svc.reader))


@router.get(
    "/series/{symbol}",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="A symbol's price series (OHLC buckets keep highs and lows), at most max_points",
)
def get_series(
    request: Request,
    svc: Svc,
    *,
    symbol: str,
    start: FromParam = None,
    end: ToParam = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> Response:
    first, last = _range(start, end)
    store = svc.reader
    bounds = sequence_range(store, first, last)
    return _cached(
        request,
        store,
        ("series", symbol, iso(first), iso(last), max_points),
        bounds,
        lambda: series(store, symbol, first, last, max_points, bounds=bounds),
    )


@router.get(
    "/markers/{symbol}",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="Decisions, fills, stop-loss / take-profit exits and alerts on a symbol's chart",
)
def get_markers(svc: Svc, symbol: str, start: FromParam = None, end: ToParam = None) -> Response:
    first, last = _range(start, end)
    return json_response(markers(svc.reader, symbol, first, last))


@router.get(
    "/equity",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="Equity (realised, unrealised) and drawdown over a time range",
)
def get_equity(
    request: Request,
    svc: Svc,
    start: FromParam = None,
    end: ToParam = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> Response:
    first, last = _range(start, end)
    store = svc.reader
    bounds = sequence_range(store, first, last)
    return _cached(
        request,
        store,
        ("equity", iso(first), iso(last), max_points),
        bounds,
        lambda: equity_curve(store, first, last, max_points, bounds=bounds),
    )


@router.get(
    "/scene",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="The whole bot as of a time or sequence, and the events around it (claire scene)",
)
def get_scene(
    svc: Svc, at: TimeParam = None, sequence: SequenceParam = None, symbol: SymbolParam = None
) -> Response:
    when, number = _moment(at, sequence)
    return json_response(
        build_scene(svc.reader, at=when, sequence=number, symbol=symbol).to_document()
    )


@router.get(
    "/explain",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="Why the bot was in (or out of) a symbol at a time (claire explain --at)",
)
def get_explain_at(
    svc: Svc,
    symbol: Annotated[str, Query(min_length=1, max_length=40)],
    at: TimeParam = None,
    sequence: SequenceParam = None,
) -> Response:
    when, number = _moment(at, sequence)
    return json_response(explain_at(svc.reader, symbol, at=when, sequence=number).to_document())


@router.get(
    "/timeline/events",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **ERRORS},
    dependencies=[ReadAccess],
    summary="Events around a sequence or time, or from a sequence, filtered by symbol and type",
)
def get_timeline_events(
    svc: Svc,
    *,
    around: SequenceParam = None,
    at: TimeParam = None,
    from_sequence: SequenceParam = None,
    before: Annotated[int, Query(ge=0, le=MAX_AROUND)] = 20,
    after: Annotated[int, Query(ge=0, le=MAX_AROUND)] = 20,
    limit: Annotated[int, Query(ge=1, le=MAX_AROUND)] = 100,
    symbol: SymbolParam = None,
    types: Annotated[
        str | None, Query(description="Comma-separated event types, e.g. risk_decision,alert")
    ] = None,
) -> Response:
    given = [
        name
        for name, v in (("around", around), ("at", at), ("from_sequence", from_sequence))
        if v is not None
    ]
    if len(given) != 1:
        raise ApiError(
            422,
            "give exactly one of around=SEQ, at=TIME or from_sequence=SEQ",
            [(f"query.{given[-1] if given else 'around'}", "give exactly one of them")],
        )
    wanted = _types(types)
    store = svc.reader
    if from_sequence is not None:
        return json_response(
            browse.page(store, from_sequence, limit=limit, symbol=symbol, types=wanted)
        )
    centre = around
    if centre is None:
        when = _time(at, "query.at")
        assert when is not None
        centre = max(1, store.sequence_at(when))
    return json_response(
        browse.around(store, centre, before=before, after=after, symbol=symbol, types=wanted)
    )


class WhatIfRequest(BaseModel):
    """A what-if over a sequence range or a time range (not both); nothing is stored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    overrides: dict[str, str] = Field(
        min_length=1,
        max_length=50,
        description="path=value changes, as `claire replay --set` takes them",
        examples=[{"risk.max_open_positions": "1"}],
    )
    from_sequence: int | None = Field(default=None, ge=1, le=MAX_SEQUENCE)
    to_sequence: int | None = Field(default=None, ge=1, le=MAX_SEQUENCE)
    start: str | None = Field(default=None, alias="from", description=f"Start. {TIME_HELP}")
    end: str | None = Field(default=None, alias="to", description=f"End, exclusive. {TIME_HELP}")
    max_points: int = Field(default=DEFAULT_MAX_POINTS, ge=1, le=MAX_POINTS)


def _what_if_range(svc: Svc, body: WhatIfRequest) -> tuple[int, int | None]:
    if body.start is None and body.end is None:
        first, last = body.from_sequence or 1, body.to_sequence
        if last is not None and last < first:
            raise ApiError(
                422,
                f"empty range: to_sequence {last} is below from_sequence {first}",
                [("body.to_sequence", f"must be {first} or more")],
            )
        return first, last
    if body.from_sequence is not None or body.to_sequence is not None:
        raise ApiError(
            422,
            "give a sequence range or a time range, not both",
            [("body.from", "not with from_sequence/to_sequence")],
        )
    start, end = _range(body.start, body.end, "body")
    bounds = sequence_range(svc.reader, start, end)
    if bounds is None:
        raise NotFoundError(f"no events recorded between {body.start} and {body.end}")
    return bounds


WHAT_IF_BODY = {
    "required": True,
    "content": {"application/json": {"schema": WhatIfRequest.model_json_schema(by_alias=True)}},
}


def _what_if_request(raw: bytes) -> WhatIfRequest:
    try:
        return WhatIfRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            (".".join(["body", *(str(part) for part in error["loc"])]), error["msg"])
            for error in exc.errors()
        ]
        summary = "; ".join(f"{field}: {reason}" for field, reason in problems)
        raise ApiError(422, f"invalid what-if request: {summary}", problems) from None


@router.post(
    "/whatif",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **error_responses(401, 404, 413, 422, 429, 503)},
    dependencies=[ReadAccess],
    openapi_extra={"requestBody": WHAT_IF_BODY},
    summary="Re-run a range's decisions with changed parameters; nothing is stored",
)
async def post_what_if(request: Request, svc: Svc) -> Response:
    body = _what_if_request(await read_body(request))
    gate = _state(request).what_if
    if not gate.acquire(blocking=False):
        raise ApiError(
            429,
            "a what-if is already running; try again when it has finished",
            headers={"Retry-After": "1"},
        )
    try:
        first, last = await anyio.to_thread.run_sync(_what_if_range, svc, body)
        document = await anyio.to_thread.run_sync(
            lambda: what_if_chart(
                svc.reader, body.overrides, first, last, max_points=body.max_points
            )
        )
    except (OverrideError, PipelineSpecError, RecordedConfigError) as exc:
        raise ApiError(422, str(exc), [("body.overrides", str(exc))]) from None
    except VersionUnavailableError as exc:
        # Decisions in the range were made by code no registered pipeline re-executes: the
        # range, not the overrides, is what cannot be done (claire replay --set exits 3).
        raise ApiError(422, str(exc), [("body", str(exc))]) from None
    finally:
        gate.release()
    return json_response(document)


@router.get(
    "/integrity",
    response_model=None,
    responses={200: {"model": dict[str, Any]}, **error_responses(401)},
    dependencies=[ReadAccess],
    summary="How far the hash chain is verified (a background check of the tail, never a scan)",
)
def get_integrity(request: Request) -> Response:
    monitor = _state(request).integrity
    monitor.start()
    return json_response(monitor.document())
