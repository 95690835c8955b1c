"""The OpenAPI schema of the Event Store Service, fuzzed with schemathesis against `claire serve`.

A real uvicorn process with a write and a read token, over a PostgreSQL store that holds a few
trades (so known ids exist and the fuzzer reaches the 200 paths, not only the 404s). Every
operation gets positive and negative examples and every schemathesis check runs: nothing
answers 500, every status code, header, content type and body is the one the schema documents,
schema-valid requests are accepted and schema-invalid ones refused. The only exceptions are in
schemathesis.toml (rules no JSON Schema can state), the file `st run` reads too.
The SSE tail never ends on its own, so its requests are bounded (see `bound_stream`).
"""

from __future__ import annotations

import os
import re
import tomllib
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
from claire.state.snapshots import SNAPSHOT_VERIFIED
from claire.store.facade import open_store
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, Server, claire, start_server, stop_server

READ, WRITE = "fuzz-read", "fuzz-write"
AUTH = {"Authorization": f"Bearer {WRITE}"}
TRUSTED = "fuzz-recorder"  # the one service the server takes snapshots from
PAST = "2024-12-31T23:59:59Z"  # a moment every receiving clock has passed
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
# The timeline reads take free text: a known symbol and times are sometimes put in, so valid
# requests reach real answers too.
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


def fuzz_config() -> dict[str, Any]:
    """schemathesis.toml, with POST /events held to more: the fuzzer's valid events are made to
    fit the store (see `fit_to_store`), so each must be accepted (201), or 409 when the fuzzer
    reuses an event_id for other content."""
    config = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    for operation in config["operations"]:
        if operation.get("include-name") == "POST /events":
            accepted = operation["checks"]["positive_data_acceptance"]
            accepted["expected-statuses"] = ["2xx", "409"]
    return config


@dataclass(frozen=True)
class Known:
    """What the populated store holds, so fuzzed requests can name ids that exist."""

    event_ids: list[str]
    correlation_ids: list[str]
    head: int
    url: str  # the server's, to read the current head

    def current_head(self) -> int:
        stats = httpx.get(f"{self.url}/stats", headers={"Authorization": f"Bearer {READ}"})
        head: int = stats.json()["head_sequence"]
        return head


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
        "CLAIRE_TRUSTED_SNAPSHOT_SERVICES": TRUSTED,
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
        url=fuzz_server.url,
    )


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server, known: Known) -> BaseSchema:
    loaded = schemathesis.openapi.from_url(
        f"{fuzz_server.url}/openapi.json", config=schemathesis.Config.from_dict(fuzz_config())
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


def fit_to_store(case: Case[Any], known: Known, data: st.DataObject) -> None:
    """Make a valid POST /events body one the store takes as well: what no JSON Schema can say
    (a cause must be stored, a timestamp not in the future, a snapshot from a trusted recorder
    and of an earlier sequence, an If-Match naming the head) is put right, everything else
    stays as generated."""
    headers = case.headers if case.headers is not None else {}
    for name in [h for h in headers if h.lower() == "if-match"]:
        quoted = str(headers[name]).startswith('"')
        current = known.current_head()
        headers[name] = f'"{current}"' if quoted else str(current)
    body: Any = case.body  # valid: one event or a list of events, each a JSON object
    for event in body if isinstance(body, list) else [body]:
        if event.get("causation_id") is not None:
            event["causation_id"] = data.draw(st.sampled_from(known.event_ids), label="cause")
        # Compared as text: whatever its zone, a time written before PAST is past.
        event["timestamp_utc"] = min(event["timestamp_utc"], PAST)
        payload = event["payload"]
        if event["event_type"] == "state_snapshot":
            payload["at_sequence"] = 0
            event["metadata"]["service"] = TRUSTED
        elif event["event_type"] == "alert" and payload["code"] == SNAPSHOT_VERIFIED:
            event["metadata"]["service"] = TRUSTED


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
        if mode is GenerationMode.POSITIVE and case.method == "POST" and case.path == "/events":
            fit_to_store(case, known, data)
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
    if mode is GenerationMode.POSITIVE and (method, path) == ("POST", "/events"):
        assert 201 in statuses, statuses  # events built from the schema alone are stored


def test_without_a_read_token_the_reads_ask_for_none(database: str, redis_base_url: str) -> None:
    # A server with no read token serves reads to anyone: its document must not ask for a
    # token there (schemathesis: "API accepts requests without authentication").
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database,
        "REDIS_URL": redis_base_url,
        "CLAIRE_WRITE_TOKEN": WRITE,
    }
    env.pop("CLAIRE_READ_TOKEN", None)
    server = start_server(env, "--no-ingest")
    try:
        document = httpx.get(f"{server.url}/openapi.json").json()
        secured = sorted(
            f"{method.upper()} {path}"
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if "security" in operation
        )
        assert secured == ["POST /events"]
        assert httpx.get(f"{server.url}/stats").status_code == 200
    finally:
        assert stop_server(server) == 0


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
