"""The OpenAPI document of the service, saying exactly what it does.

- POST /events takes `EventInput`: a union of one schema per event type, chosen by
  `event_type` and each with its payload's fields (claire.events.input_schema), so a client
  generated from /openapi.json builds valid events.
- The read endpoints declare the bearer token only when the server requires one for reading
  (CLAIRE_READ_TOKEN set): a document that asks for a header the server then ignores misleads
  clients, and schemathesis reports it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from claire.api.auth import require_read
from claire.events.input_schema import event_input_schemas


def openapi_document(app: FastAPI, *, reads_need_token: bool) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in event_input_schemas().items():
        components[name] = definition
    if not reads_need_token:
        for path, method in read_operations(app):
            schema["paths"][path][method].pop("security", None)
    return schema


def read_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(path, method) of every operation guarded by the read token."""
    found: list[tuple[str, str]] = []
    for route in _routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and route.include_in_schema and _reads(dependant):
            found.extend((route.path_format, method.lower()) for method in route.methods or ())
    return found


def _routes(app: FastAPI) -> list[Any]:
    """The routes with their dependencies, through included routers (FastAPI >= 0.160 keeps
    them behind route contexts; before, app.routes held the APIRoutes themselves)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return list(iter_route_contexts(app.routes))


def _reads(dependant: Any) -> bool:
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is require_read:
            return True
        pending.extend(dependency.dependencies)
    return False
