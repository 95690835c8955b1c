"""The OpenAPI schema of the Event Store Service, fuzzed with schemathesis against `claire serve`.

A real uvicorn process with a write and a read token, over a PostgreSQL store that holds a few
trades (so known ids exist and the fuzzer reaches the 200 paths, not only the 404s). Every
operation gets positive and negative examples; schemathesis checks that nothing answers 500
and that every status code, content type and body is the one the schema documents.
The SSE tail never ends on its own, so its requests are bounded (see `bound_stream`).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema

from claire.audit.verify import verify_log
from claire.events.codec import canonical_document
from claire.store.facade import open_store
from tests.conftest import throwaway_database
from tests.factories import factory, trade
from tests.integration.test_api_service import ROOT, Server, claire, start_server, stop_server

READ, WRITE = "fuzz-read", "fuzz-write"
AUTH = {"Authorization": f"Bearer {WRITE}"}
TRADES = 3
MAX_SEQUENCE = 2**63 - 1
MAX_EVENTS = 10**9
DIGITS = re.compile(r"[0-9]+")
ID_PARAMETERS = ("event_id", "correlation_id")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run
    suppress_health_check=list(HealthCheck),
)

OPERATIONS = [  # (method, path, takes input): only an operation with input has negative cases
    ("GET", "/health", False),
    ("GET", "/health/live", False),
    ("GET", "/health/ready", False),
    ("GET", "/events", True),
    ("POST", "/events", True),
    ("GET", "/events/stream", True),
    ("GET", "/events/{event_id}", True),
    ("GET", "/events/{event_id}/causation", True),
    ("GET", "/events/{event_id}/explain", True),
    ("GET", "/events/{event_id}/record", True),
    ("GET", "/correlations/{correlation_id}", True),
    ("GET", "/stats", False),
    ("GET", "/metrics", False),
    ("GET", "/symbols", False),
    ("GET", "/series/{symbol}", True),
    ("GET", "/markers/{symbol}", True),
    ("GET", "/equity", True),
    ("GET", "/scene", True),
    ("GET", "/explain", True),
    ("GET", "/timeline/events", True),
    ("POST", "/whatif", True),
    ("GET", "/integrity", False),
]
# The timeline reads take free text (times, symbols) whose meaning no schema states: a valid
# request may name nothing stored (404) or a time that does not parse (422). Known values are
# sometimes put in, so valid requests reach real answers too.
TIMELINE = (
    "/series/{symbol}",
    "/markers/{symbol}",
    "/equity",
    "/scene",
    "/explain",
    "/timeline/events",
    "/whatif",
)
KNOWN_QUERY = {"symbol": "BTCUSDT", "at": "2025-02-14 13:00:02", "from": "2025-02-14T13:00Z"}
# Schema-valid requests the API refuses with a documented 422 because the rule spans fields or
# needs the store, which a JSON schema cannot say: a range whose end is below its start, and
# events whose payload does not fit their event_type, whose cause is not stored, or whose
# integers exceed 64 bits. Everywhere else a valid request must succeed.
CONFIG = {
    "operations": [
        {
            "include-path": "/events",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "422"]}
            },
        },
        *(
            {
                "include-path": path,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "422"]}
                },
            }
            for path in TIMELINE
        ),
    ]
}


@dataclass(frozen=True)
class Known:
    """What the populated store holds, so fuzzed requests can name ids that exist."""

    event_ids: list[str]
    correlation_ids: list[str]
    head: int


@pytest.fixture(scope="module")
def database(pg_admin_url: str) -> Iterator[str]:
    with throwaway_database(pg_admin_url, "fuzz") as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_server(database: str, redis_base_url: str) -> Iterator[Server]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database,
        "REDIS_URL": redis_base_url,
        "CLAIRE_WRITE_TOKEN": WRITE,
        "CLAIRE_READ_TOKEN": READ,
    }
    migrated = claire(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    running = start_server(env, "--no-ingest")
    try:
        yield running
    finally:
        assert stop_server(running) == 0


@pytest.fixture(scope="module")
def known(fuzz_server: Server) -> Known:
    f = factory("fuzz")
    events = [e for _ in range(TRADES) for e in trade(f)]
    with fuzz_server.client(WRITE) as client:
        response = client.post(
            "/events", content=orjson.dumps([canonical_document(e) for e in events])
        )
    assert response.status_code == 201, response.text
    return Known(
        event_ids=[str(e.event_id) for e in events],
        correlation_ids=sorted({str(e.correlation_id) for e in events}),
        head=response.json()["sequence_numbers"][-1],
    )


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server, known: Known) -> BaseSchema:
    loaded = schemathesis.openapi.from_url(
        f"{fuzz_server.url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG)
    )
    loaded.config.update(base_url=fuzz_server.url)
    # The bearer token is sent by the test (AUTH); generated Authorization headers would only
    # fuzz the auth scheme, which test_api_service covers.
    loaded.config.generation.update(with_security_parameters=False)
    return loaded


def _last(value: Any) -> Any:
    """A repeated query parameter counts by its last value (as Starlette reads it)."""
    return value[-1] if isinstance(value, list) and value else value


def _sequence(value: Any, ceiling: int) -> int | None:
    """The value as the server would accept it (a decimal integer in [1, ceiling]), or None."""
    value = _last(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= ceiling else None


def bound_stream(case: Case[Any], head: int) -> None:
    """Make a GET /events/stream request end: start inside the stored log and stop after one
    event. Invalid values are left as generated, so the 422 paths are fuzzed too."""
    query = dict(case.query or {})
    if "from_sequence" not in query or _sequence(query["from_sequence"], MAX_SEQUENCE):
        query["from_sequence"] = 1 + (_sequence(query.get("from_sequence"), head) or 1) % head
    if "max_events" not in query or _sequence(query["max_events"], MAX_EVENTS):
        query["max_events"] = 1
    headers = case.headers if case.headers is not None else {}
    for name in [h for h in headers if h.lower() == "last-event-id"]:
        if DIGITS.fullmatch(str(headers[name])) and int(headers[name]) < MAX_SEQUENCE:
            headers[name] = str(int(headers[name]) % head)
    case.query = query


def known_values(case: Case[Any], data: st.DataObject) -> None:
    """Sometimes a symbol and times the store holds, in a valid request of a timeline read."""
    path_parameters = case.path_parameters or {}
    if "symbol" in path_parameters and data.draw(st.booleans(), label="known symbol"):
        path_parameters["symbol"] = KNOWN_QUERY["symbol"]
    query = dict(case.query or {})
    for name, value in KNOWN_QUERY.items():
        if name in query and data.draw(st.booleans(), label=f"known {name}"):
            query[name] = value
    case.query = query


def fuzz(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, known: Known
) -> set[int]:
    """Throw `FUZZ.max_examples` generated requests at one operation; fail on the first that
    breaks a check (hypothesis then shrinks it to a minimal request). Returns the statuses seen.
    """
    statuses: set[int] = set()

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Case[Any], data: st.DataObject) -> None:
        path_parameters = case.path_parameters or {}
        for name in ID_PARAMETERS:
            # Only valid requests get a known id: a negative case's path must stay malformed.
            if (
                name in path_parameters
                and mode is GenerationMode.POSITIVE
                and data.draw(st.booleans(), label=f"known {name}")
            ):
                pool = known.event_ids if name == "event_id" else known.correlation_ids
                path_parameters[name] = data.draw(st.sampled_from(pool), label=name)
        if case.path == "/events/stream":
            bound_stream(case, known.head)
        if mode is GenerationMode.POSITIVE and case.path in TIMELINE:
            known_values(case, data)
        response = case.call_and_validate(headers=AUTH, timeout=10)
        statuses.add(response.status_code)

    run()
    return statuses


def test_every_operation_is_fuzzed(api_schema: BaseSchema) -> None:
    # A new endpoint must join OPERATIONS, or it would escape the fuzzer.
    paths: dict[str, dict[str, Any]] = api_schema.raw_schema["paths"]
    found = sorted((method.upper(), path) for path, item in paths.items() for method in item)
    assert found == sorted((method, path) for method, path, _ in OPERATIONS)


CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path, takes_input in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_to_its_schema(
    api_schema: BaseSchema, known: Known, method: str, path: str, mode: GenerationMode
) -> None:
    statuses = fuzz(api_schema[path][method], mode, known)
    assert statuses
    assert max(statuses) < 500, statuses
    if mode is GenerationMode.POSITIVE and method == "GET":
        # Valid reads reach real data (the known ids), not only 404s and 422s.
        assert any(200 <= s < 300 for s in statuses), statuses


def test_the_log_still_verifies_after_fuzzing(
    database: str, fuzz_server: Server, known: Known
) -> None:
    # Runs after the fuzzing above (pytest keeps file order): whatever the fuzzer appended,
    # the chain is intact and the seeded trades are still there.
    assert httpx.get(f"{fuzz_server.url}/health").json()["status"] == "ok"
    with open_store(database, create=True) as store:
        report = verify_log(store)
        assert report.ok, report.to_document()
        for event_id in known.event_ids:
            assert store.get(uuid.UUID(event_id)) is not None
