"""The FastAPI app of the Event Store Service (port 8004): `create_app(settings | store ...)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from claire.api import health, routes, stream, timeline
from claire.api.errors import install_error_handlers
from claire.api.metrics import MetricsMiddleware, metrics_text, service_registry
from claire.api.openapi import openapi_document
from claire.api.services import Services
from claire.api.ui import mount_ui
from claire.config import Settings, load_settings, secret
from claire.redact import install_log_redaction
from claire.store.port import EventStore
from claire.supervision import HealthBoard

if TYPE_CHECKING:
    import redis

DESCRIPTION = """
Queries over the immutable event log, a live tail, and (with a write token) appends.

Errors are JSON: `{"error": "...", "status": 422, "problems": [{"field": ..., "reason": ...}]}`.
404 names an unknown id, 422 a malformed id, range or event, 413 a body above 1 MiB.
Reads need `Authorization: Bearer <CLAIRE_READ_TOKEN>` when that token is set; `/health`,
`/health/live` and `/health/ready` are open but give details only with that token;
`POST /events` is disabled unless CLAIRE_WRITE_TOKEN is set, and then requires it.
"""


def create_app(
    settings: Settings | None = None,
    *,
    store: EventStore | None = None,
    redis_client: redis.Redis[bytes] | None = None,
    health_board: HealthBoard | None = None,
) -> FastAPI:
    """The app; `store` and `redis_client` override what `settings` would open;
    `health_board` holds the health of the process's background tasks (readiness)."""
    install_log_redaction()  # no secret in any log line of the service
    svc = Services(settings or load_settings(), store, redis_client, health_board)
    registry = service_registry(svc)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        timeline.close(app)
        svc.close()

    app = FastAPI(
        title="Claire Event Store Service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = svc
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(stream.router)  # before /events/{event_id}
    app.include_router(routes.router)
    timeline.install(app, svc)
    mount_ui(app)  # the timeline UI's static files at /ui/

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
    )
    def metrics() -> Response:
        return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            reads_need_token = bool(secret(svc.settings.read_token))
            app.openapi_schema = openapi_document(app, reads_need_token=reads_need_token)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
