"""GET /health, /health/live and /health/ready: what a probe needs, and no secret.

- `/health/live`: the process answers (liveness: restart it only when this fails).
- `/health/ready`: the store is reachable with its schema current, Redis answers, and every
  supervised background task (the ingest worker, the checkpoint timer) is running and not stuck
  (readiness). 200 for `ok` and `degraded` (working around a passing outage), 503 for `down`.
- `/health`: the same checks as readiness, for the seed's clients.

Without credentials each component says only `ok`, `degraded` or `down` (or `not configured`):
a failing component's detail (an error message, however redacted) is given only to a caller
that presents the read token (or the write token). Details are redacted in any case.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from claire.api.auth import may_read_details
from claire.api.services import Services, services
from claire.errors import StoreSchemaError
from claire.redact import redact_error
from claire.supervision import State, Status

router = APIRouter()
Svc = Annotated[Services, Depends(services)]
Details = Annotated[bool, Depends(may_read_details)]
NOT_CONFIGURED = "not configured"


class ComponentStatus(BaseModel):
    status: Literal["ok", "degraded", "down", "not configured"]
    detail: str | None = Field(
        default=None, description="Why, for a caller with the read token (else absent)"
    )


class HealthDocument(BaseModel):
    status: Literal["ok", "degraded", "down"]
    components: dict[str, ComponentStatus]
    store: ComponentStatus
    redis: ComponentStatus
    head_sequence: int | None = Field(default=None, description="With the read token only")


class LiveDocument(BaseModel):
    status: Literal["ok"]


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HealthDocument},
    503: {"model": HealthDocument},
}


def _store(svc: Services, found: dict[str, Status], facts: dict[str, Any]) -> None:
    try:
        store = svc.reader
        facts["head_sequence"] = store.head().sequence_number
    except StoreSchemaError as exc:  # reachable, but not a store of this code's schema
        found["store"] = Status(State.OK)
        found["schema"] = Status(State.DOWN, redact_error(exc))
        return
    except Exception as exc:
        found["store"] = Status(State.DOWN, redact_error(exc))
        return
    found["store"] = Status(State.OK)
    problem = svc.schema_problem()
    found["schema"] = Status(State.DOWN, problem) if problem else Status(State.OK)


def _redis(svc: Services, found: dict[str, Status]) -> None:
    if svc.redis is None:
        return
    try:
        svc.redis.ping()
        found["redis"] = Status(State.OK)
    except Exception as exc:
        found["redis"] = Status(State.DOWN, redact_error(exc))


def check(svc: Services) -> tuple[dict[str, Status], dict[str, Any]]:
    """Every component's status, and facts (the head sequence) for a caller with details."""
    found: dict[str, Status] = {}
    facts: dict[str, Any] = {}
    _store(svc, found, facts)
    _redis(svc, found)
    found.update(svc.health.statuses())
    return found, facts


def render(found: dict[str, Status], facts: dict[str, Any], details: bool) -> Response:
    overall = State.worst([s.state for s in found.values()])

    def component(status: Status) -> dict[str, Any]:
        shown: dict[str, Any] = {"status": status.state.value}
        if details and status.detail:
            shown["detail"] = status.detail
        return shown

    components = {name: component(status) for name, status in found.items()}
    absent = {"status": NOT_CONFIGURED}
    document: dict[str, Any] = {
        "status": overall.value,
        "components": components,
        # The seed's two fields, as before.
        "store": components.get("store", absent),
        "redis": components.get("redis", absent),
    }
    if details:
        document.update(facts)
    status_code = 503 if overall is State.DOWN else 200
    return Response(orjson.dumps(document), status_code, media_type="application/json")


@router.get(
    "/health",
    response_model=None,
    responses=HEALTH_RESPONSES,
    summary="Store, schema, Redis and background tasks (503 when one is down)",
)
@router.get(
    "/health/ready",
    response_model=None,
    responses=HEALTH_RESPONSES,
    summary="Readiness: store reachable, schema current, ingest worker running and not stuck",
)
def health(svc: Svc, details: Details) -> Response:
    return render(*check(svc), details)


@router.get(
    "/health/live",
    response_model=None,
    responses={200: {"model": LiveDocument}},
    summary="Liveness: the process answers",
)
def live() -> Response:
    return Response(b'{"status":"ok"}', 200, media_type="application/json")
