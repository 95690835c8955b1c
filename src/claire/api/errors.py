"""Every error as JSON with a clear message: the project's errors mapped to HTTP status codes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from claire.errors import (
    CausationError,
    ConcurrencyError,
    EventConflictError,
    EventValidationError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from claire.events.versioning import SchemaVersionError
from claire.redact import redact_text

log = logging.getLogger("claire.api")


class ApiError(Exception):
    """An error with its HTTP status, raised by the routes."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: Iterable[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
        extra: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.problems = list(problems)
        self.headers = headers
        self.extra = extra


def error_response(
    status: int,
    message: str,
    problems: Iterable[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, int] | None = None,
) -> Response:
    """The error document; `extra` adds numbers the response's schema declares (e.g. 412's
    expected_sequence and head_sequence)."""
    # Redacted here, the one door every error leaves by: a driver's message may quote a
    # connection string, and a problem may quote the input.
    body: dict[str, Any] = {
        "error": redact_text(message),
        "status": status,
        "problems": [{"field": f, "reason": redact_text(r)} for f, r in problems],
    }
    body.update(extra or {})
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


# Reasons clearer than the validator's for parameters whose rule is a pattern.
READABLE = {
    "header.If-Match": 'must be the sequence number of the head you expect, e.g. 42 or "42" '
    "(at most 18 digits; * and weak tags W/... are not supported)",
}


def _location(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed(request: Request) -> str:
    """Every method the API documents at this path (Starlette would name one route's only:
    GET and POST /events are two routes), HEAD with GET as Starlette serves it."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), request.url.path):
            methods.update(method.upper() for method in operations)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.problems, exc.headers, exc.extra)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            (where, READABLE.get(where) or str(err.get("msg", "invalid")))
            for err in exc.errors()
            for where in [_location(err.get("loc", ()))]
        ]
        summary = "; ".join(f"{f}: {r}" for f, r in problems)
        return error_response(422, f"invalid request: {summary}", problems)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path} (see /docs)"
            return error_response(405, message, headers={"Allow": _allowed(request)})
        return error_response(exc.status_code, message, headers=exc.headers)

    async def claire_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):
            return error_response(404, str(exc))
        if isinstance(exc, EventValidationError):
            return error_response(422, f"invalid event: {exc}", exc.problems)
        if isinstance(exc, EventConflictError):
            return error_response(409, str(exc))
        if isinstance(exc, CausationError):
            return error_response(422, str(exc))
        if isinstance(exc, ConcurrencyError):  # a conditional append whose condition failed
            return error_response(412, str(exc))
        if isinstance(exc, SchemaVersionError):  # the store holds what this code cannot read
            return error_response(500, f"cannot read a stored event: {exc}")
        if isinstance(exc, StoreUnavailableError):
            return error_response(503, f"the event store is unavailable: {exc}")
        return error_response(503, f"the event store failed: {exc}")

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    for kind in (NotFoundError, EventValidationError, StoreError):
        app.add_exception_handler(kind, claire_error)
    app.add_exception_handler(Exception, unexpected)
