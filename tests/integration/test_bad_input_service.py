"""Malformed events thrown at the running service: `POST /events` and the Redis stream.

One `claire serve` process (API and ingest worker, after `claire db migrate`) over a throwaway
PostgreSQL database. Every bad input is sandwiched between two good events:
- over HTTP it must get a 4xx JSON error naming the field, and the two good events must get
  consecutive sequence numbers (so nothing of the bad input was stored in between);
- on the stream (published raw with XADD, in the publisher's message format) it must land in
  the dead-letter stream with its reason and the original fields, be acknowledged on the main
  stream, and the good events around it must be stored, again consecutively.
At the end the log holds exactly the seeded events and the good ones, in order, and verifies.
The strategies are the ones the Python-API test (test_bad_input_api) uses.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from claire.audit.verify import verify_log
from claire.errors import EventValidationError
from claire.events import BaseEvent, EventFactory
from claire.events.codec import MAX_EVENT_BYTES, canonical_bytes, canonical_document
from claire.events.values import MAX_NESTING_DEPTH
from claire.ingest.streams import EVENT_FIELD, encode_event
from claire.store.facade import open_store
from claire.store.port import EventStore
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, Server, claire, start_server, stop_server
from tests.integration.test_bad_input_api import (
    DECIMAL_FIELDS,
    REQUIRED_TOP_LEVEL,
    TEXT_FIELDS,
    bad_numbers,
    documents,
    forbidden_text,
    junk,
    nested,
    odd_but_legal_text,
    sample_events,
    set_path,
)

WRITE = "bad-input-write"
GROUP = "claire-ingest"
GRACE_MS = 100  # how long the worker waits for an unknown cause before dead-lettering
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same examples every run
    suppress_health_check=list(HealthCheck),
)
FEW = settings(SETTINGS, max_examples=4)  # for inputs that cost a grace period each
PLACEHOLDER = "@@TEXT@@"
# A safety net: a worker that stopped ingesting must fail the test, not hang the suite.
pytestmark = pytest.mark.timeout(120)


@dataclass
class Service:
    """The running `claire serve`, the store it writes (read here), and what must be in it."""

    server: Server
    store: EventStore
    redis: redis.Redis[bytes]
    stream: str
    neighbours: EventFactory
    ledger: list[str] = field(default_factory=list)  # event ids the log must hold, in order
    dead_letters: int = 0  # dead letters the tests caused

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}:dead"

    def good(self) -> BaseEvent:
        return self.neighbours.create_market_data(
            symbol="ETHUSDT", price=3000.0, volume=10, source="test", correlation_id=uuid.uuid4()
        )


@pytest.fixture(scope="module")
def database(pg_admin_url: str) -> Iterator[str]:
    with throwaway_database(pg_admin_url, "badsvc") as url:
        yield url


@pytest.fixture(scope="module")
def service(database: str, redis_base_url: str) -> Iterator[Service]:
    prefix = f"claire-test:{uuid.uuid4().hex[:12]}:"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database,
        "REDIS_URL": redis_base_url,
        "CLAIRE_WRITE_TOKEN": WRITE,
        "CLAIRE_READ_TOKEN": "",
        "CLAIRE_INGEST_STREAM": f"{prefix}events",
        "CLAIRE_PUBSUB_CHANNEL": "",
        "CLAIRE_CAUSATION_GRACE_MS": str(GRACE_MS),
        # The sample events include a snapshot; the doors take it from this producer only.
        "CLAIRE_TRUSTED_SNAPSHOT_SERVICES": "bad-input",
    }
    migrated = claire(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    client = redis.Redis.from_url(redis_base_url)
    running = start_server(env)
    try:
        with open_store(database, create=True) as store:
            svc = Service(running, store, client, f"{prefix}events", factory("neighbour"))
            seeded = sample_events() + trade()
            response = post(svc, [canonical_document(e) for e in seeded])
            assert response.status_code == 201, response.text
            svc.ledger += [str(e.event_id) for e in seeded]
            yield svc
    finally:
        assert stop_server(running) == 0
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def head(svc: Service) -> int:
    return svc.store.head().sequence_number


# --- HTTP --------------------------------------------------------------------------------------


def as_json(document: Any) -> bytes:
    """JSON the way a careless producer writes it: the stdlib writes NaN and Infinity as bare
    literals and integers of any size, which orjson (rightly) would not."""
    return json.dumps(document).encode()


def post(svc: Service, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else as_json(body)
    with svc.server.client(WRITE) as client:
        return client.post("/events", content=content)


def post_around(svc: Service, body: Any) -> httpx.Response:
    """POST a good event, then `body`, then another good event. The good ones must get
    consecutive sequence numbers unless `body` was accepted (201): a refusal stored nothing."""
    before = head(svc)
    first, last = svc.good(), svc.good()
    assert post(svc, canonical_document(first)).json()["sequence_numbers"] == [before + 1]
    response = post(svc, body)
    accepted = response.json()["sequence_numbers"] if response.status_code == 201 else []
    after = before + 2 + len(set(accepted))
    assert post(svc, canonical_document(last)).json()["sequence_numbers"] == [after]
    between = []
    if accepted:
        records = svc.store.iter_records(from_sequence=before + 2, to_sequence=after - 1)
        between = [str(r.event_id) for r in records]
    svc.ledger += [str(first.event_id), *between, str(last.event_id)]
    return response


def assert_refused(response: httpx.Response, status: int | None, *fields: str) -> dict[str, Any]:
    """A 4xx JSON error in the documented shape; it names one of `fields` (in a problem's field
    or in the message) when given."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["error"], str) and body["error"].strip()
    for problem in body["problems"]:
        assert problem["field"] and problem["reason"], body
    if fields:
        named = [p["field"] for p in body["problems"]]
        assert any(f in body["error"] or any(n.startswith(f) for n in named) for f in fields), (
            fields,
            body,
        )
    return body


def refused_over_http(svc: Service, body: Any, status: int | None, *fields: str) -> str:
    return str(assert_refused(post_around(svc, body), status, *fields)["error"])


def local_problems(doc: dict[str, Any]) -> list[tuple[str, str]] | None:
    """What validation says about a document (the oracle for what the service must say)."""
    try:
        BaseEvent.parse(doc)
    except EventValidationError as exc:
        return exc.problems
    return None


# --- the stream --------------------------------------------------------------------------------


def publish_around(svc: Service, *bad: dict[bytes, bytes]) -> list[bytes]:
    """XADD a good event, the bad messages, another good event; wait until the good ones are
    stored and every bad one is dead-lettered. Returns the dead letters' reasons, in order."""
    before, dead_before = head(svc), int(svc.redis.xlen(svc.dead_stream))
    first, last = svc.good(), svc.good()
    pipe = svc.redis.pipeline(transaction=False)
    pipe.xadd(svc.stream, {EVENT_FIELD: encode_event(first)})
    for fields in bad:
        pipe.xadd(svc.stream, fields)
    pipe.xadd(svc.stream, {EVENT_FIELD: encode_event(last)})
    _, *bad_ids, _ = pipe.execute()
    wait_for(
        lambda: (
            svc.store.get(last.event_id) is not None
            and svc.redis.xlen(svc.dead_stream) == dead_before + len(bad)
        ),
        what="the good events and the dead letters",
    )
    stored = [r.event_id for r in svc.store.iter_records(from_sequence=before + 1)]
    assert [str(i) for i in stored] == [str(first.event_id), str(last.event_id)]
    svc.ledger += [str(first.event_id), str(last.event_id)]
    svc.dead_letters += len(bad)

    letters = svc.redis.xrange(svc.dead_stream, count=len(bad), min=_after(svc, dead_before))
    by_source = {entry[b"source_id"]: entry for _, entry in letters}
    reasons = []
    for message_id, original in zip(bad_ids, bad, strict=True):
        letter = by_source[message_id]
        kept = {
            k.removeprefix(b"message."): v for k, v in letter.items() if k.startswith(b"message.")
        }
        assert kept == original  # the original message, byte for byte
        assert letter[b"source_stream"].decode() == svc.stream
        reasons.append(letter[b"reason"])
        # acknowledged on the main stream: no longer pending for the group
        untyped: Any = svc.redis
        assert (
            untyped.xpending_range(svc.stream, GROUP, min=message_id, max=message_id, count=1) == []
        )
    return reasons


def _after(svc: Service, count: int) -> str:
    """The id of the dead letter number `count` (0-based) or '-' for the first."""
    if count == 0:
        return "-"
    entries = svc.redis.xrange(svc.dead_stream, count=count)
    last: bytes = entries[-1][0]
    return "(" + last.decode()


def dead_lettered(svc: Service, data: bytes | dict[bytes, bytes], *names: str) -> str:
    """Publish one bad message; its reason must name one of `names`."""
    fields = data if isinstance(data, dict) else {EVENT_FIELD: data}
    [reason] = publish_around(svc, fields)
    text = reason.decode()
    assert text.strip()
    assert any(n in text for n in names), (names, text)
    return text


def with_raw_text(doc: dict[str, Any], path: tuple[str, ...], raw: bytes) -> bytes:
    """The document as JSON with `raw` spliced verbatim inside the string at `path`."""
    return orjson.dumps(set_path(doc, path, PLACEHOLDER)).replace(PLACEHOLDER.encode(), raw)


def with_raw_value(doc: dict[str, Any], path: tuple[str, ...], raw: bytes) -> bytes:
    """The document as JSON with `raw` spliced verbatim as the value at `path` (JSON that a
    serializer would never write: NaN, 1e999, integers beyond 64 bits)."""
    return with_raw_text(doc, path, raw).replace(b'"' + raw + b'"', raw, 1)


# --- wrong types and missing fields ------------------------------------------------------------


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=7),
    name=st.sampled_from([*REQUIRED_TOP_LEVEL, "causation_id"]),
    value=junk,
)
def test_wrong_types_over_http(service: Service, index: int, name: str, value: Any) -> None:
    batch = documents()
    batch[index][name] = value
    problems = local_problems(batch[index])
    response = post_around(service, batch)
    if problems is not None:
        assert_refused(response, 422, f"events[{index}].{name}")
    elif response.status_code == 201:  # an odd value validation accepts (a null cause, say)
        for doc in batch:  # stored intact (post_around put it in the ledger)
            got = service.store.get(uuid.UUID(str(doc["event_id"])))
            assert got is not None
            assert canonical_bytes(got) == canonical_bytes(BaseEvent.parse(doc))
    else:
        assert_refused(response, None)


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=7),
    name=st.sampled_from([*REQUIRED_TOP_LEVEL, "causation_id"]),
    value=junk,
)
def test_wrong_types_on_the_stream(service: Service, index: int, name: str, value: Any) -> None:
    doc = set_path(documents()[index], (name,), value)
    assume(local_problems(doc) is not None)  # accepted odd values are the HTTP test's business
    dead_lettered(service, as_json(doc), name)


@SETTINGS
@given(index=st.integers(min_value=0, max_value=7), name=st.sampled_from(REQUIRED_TOP_LEVEL))
def test_missing_fields_are_named(service: Service, index: int, name: str) -> None:
    batch = documents()
    del batch[index][name]
    refused_over_http(service, batch, 422, f"events[{index}].{name}")
    del (doc := documents()[index])[name]
    dead_lettered(service, orjson.dumps(doc), name)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes(service: Service, data: bytes) -> None:
    refused_over_http(service, data, 422)
    dead_lettered(service, data, "invalid event")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"payload": b"{}"}, "no 'event' field"),
        ({b"event": b""}, "not valid JSON"),
        ({b"event": b"[]"}, "expected a JSON object"),
        ({b"event": b"\xff\xfe\x00"}, "not valid JSON"),
    ],
    ids=["no event field", "empty", "array", "not utf-8"],
)
def test_malformed_stream_messages(
    service: Service, fields: dict[bytes, bytes], reason: str
) -> None:
    dead_lettered(service, fields, reason)


@pytest.mark.parametrize(
    ("body", "field"),
    [([], "body"), ({}, "event_id"), ("an event", "body"), ([1, 2], "events[0]"), (None, "body")],
    ids=["empty batch", "empty object", "string", "numbers", "null"],
)
def test_wrong_shapes_over_http(service: Service, body: Any, field: str) -> None:
    refused_over_http(service, body, 422, field)


# --- NaN, Infinity, huge numbers ---------------------------------------------------------------


FLOAT_LITERALS = {"nan": b"NaN", "inf": b"Infinity", "-inf": b"-Infinity"}


@SETTINGS
@given(where=st.sampled_from(sorted(DECIMAL_FIELDS)), value=bad_numbers)
def test_nan_and_infinity_in_money_fields(service: Service, where: str, value: Any) -> None:
    index, name = DECIMAL_FIELDS[where]
    doc = documents()[index]
    doc["causation_id"] = None
    if isinstance(value, float):  # JSON has no NaN literal, but a sloppy producer may send one
        body = with_raw_value(doc, ("payload", name), FLOAT_LITERALS[repr(value)])
        refused_over_http(service, b"[" + body + b"]", 422, "body")
        dead_lettered(service, body, "not valid JSON")
        return
    doc = set_path(doc, ("payload", name), value)
    refused_over_http(service, [doc], 422, f"events[0].payload.{name}")
    dead_lettered(service, orjson.dumps(doc), f"payload.{name}")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_non_finite_numbers_in_free_form_data(service: Service, literal: bytes) -> None:
    doc = documents()[5]  # an alert: its context is free-form
    body = with_raw_value(doc, ("payload", "context"), b'{"x":' + literal + b"}")
    refused_over_http(service, body, 422, "body")
    dead_lettered(service, body, "not valid JSON")


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits(service: Service, value: int) -> None:
    body = with_raw_value(documents()[5], ("payload", "context", "n"), str(value).encode())
    refused_over_http(service, body, 422, "payload.context", "body")
    dead_lettered(service, body, "payload.context", "not valid JSON")


# --- size and depth ----------------------------------------------------------------------------


def _alert_of_size(size: int) -> BaseEvent:
    """An alert whose canonical encoding is `size` bytes long."""
    f = factory("huge")
    base = f.create_alert(level="INFO", code="BIG", message="", correlation_id=uuid.uuid4())
    overhead = len(canonical_bytes(base))
    return f.create_alert(
        level="INFO", code="BIG", message="x" * (size - overhead), correlation_id=uuid.uuid4()
    )


@pytest.mark.parametrize("size", [MAX_EVENT_BYTES + 1, 2 * MAX_EVENT_BYTES, 8 * MAX_EVENT_BYTES])
def test_huge_payloads_are_refused_above_one_mib(service: Service, size: int) -> None:
    body = orjson.dumps(canonical_document(_alert_of_size(size)))
    assert len(body) > MAX_EVENT_BYTES
    error = refused_over_http(service, body, 413, "body")
    assert "1 MiB" in error
    assert "larger than the limit" in dead_lettered(service, body, "1 MiB")


def test_a_batch_of_small_events_above_one_mib_is_refused(service: Service) -> None:
    f = factory("many")
    batch = [
        canonical_document(
            f.create_alert(level="INFO", code="X", message="y" * 2000, correlation_id=uuid.uuid4())
        )
        for _ in range(600)
    ]
    assert len(orjson.dumps(batch)) > MAX_EVENT_BYTES
    assert "1 MiB" in refused_over_http(service, batch, 413, "body")


def test_an_event_just_below_the_limit_is_stored(service: Service) -> None:
    event = _alert_of_size(MAX_EVENT_BYTES - 4096)
    before = head(service)
    assert post(service, canonical_document(event)).json()["sequence_numbers"] == [before + 1]
    service.ledger.append(str(event.event_id))


@SETTINGS
@given(depth=st.integers(min_value=MAX_NESTING_DEPTH, max_value=400))
def test_deep_nesting_beyond_the_limit(service: Service, depth: int) -> None:
    doc = set_path(documents()[5], ("payload", "context"), nested(depth))
    doc["causation_id"] = None
    assert "nested deeper" in refused_over_http(service, [doc], 422, "events[0].payload.context")
    assert "nested deeper" in dead_lettered(service, as_json(doc), "payload.context")


def test_json_nested_beyond_the_parser_limit(service: Service) -> None:
    body = b'{"a":' * 5000 + b"1" + b"}" * 5000
    refused_over_http(service, body, 422, "body")
    dead_lettered(service, body, "not valid JSON")


# --- unicode -----------------------------------------------------------------------------------


RAW_BAD_TEXT = {  # bytes spliced verbatim into a JSON string: none of them is valid UTF-8 JSON
    "raw NUL": b"a\x00b",
    "surrogate as UTF-8 (CESU)": b"\xed\xa0\x80",
    "low surrogate as UTF-8": b"\xed\xbf\xbf",
    "overlong NUL": b"\xc0\x80",
    "invalid byte": b"\xff",
    "truncated sequence": b"\xe2\x82",
    "lone surrogate escape": b"\\ud800",
    "reversed surrogate pair escape": b"\\udc00\\ud800",
}


@pytest.mark.parametrize("raw", list(RAW_BAD_TEXT.values()), ids=list(RAW_BAD_TEXT))
@pytest.mark.parametrize("where", ["alert.message", "metadata.service"])
def test_invalid_text_as_raw_bytes(service: Service, where: str, raw: bytes) -> None:
    index, path = TEXT_FIELDS[where]
    doc = documents()[index]
    doc["causation_id"] = None
    body = with_raw_text(doc, path, raw)
    refused_over_http(service, b"[" + body + b"]", 422, "body")
    dead_lettered(service, body, "not valid JSON")


@SETTINGS
@given(where=st.sampled_from(sorted(TEXT_FIELDS)), text=forbidden_text)
def test_nul_and_lone_surrogates_as_json_escapes(service: Service, where: str, text: str) -> None:
    # Valid JSON (\u0000, \ud800 escapes): the parser may take it, validation must not.
    index, path = TEXT_FIELDS[where]
    doc = set_path(documents()[index], path, PLACEHOLDER)
    doc["causation_id"] = None
    body = orjson.dumps(doc).replace(PLACEHOLDER.encode(), _escape(text))
    refused_over_http(service, b"[" + body + b"]", 422, path[0], "events[0]", "body")
    dead_lettered(service, body, path[0], "not valid JSON")


def _escape(text: str) -> bytes:
    """`text` as the inside of a JSON string, every character escaped (surrogates included)."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else _pair(ord(c)) for c in text).encode()


def _pair(code: int) -> str:
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


@SETTINGS
@given(where=st.sampled_from(sorted(TEXT_FIELDS)), text=odd_but_legal_text)
def test_odd_but_legal_unicode_is_stored_byte_exact(
    service: Service, where: str, text: str
) -> None:
    index, path = TEXT_FIELDS[where]
    over_http = set_path(documents()[index], path, text)
    over_http["causation_id"] = None
    streamed = {**over_http, "event_id": str(uuid.uuid4())}
    before = head(service)
    response = post(service, over_http)
    assert response.status_code == 201, response.text
    assert response.json()["sequence_numbers"] == [before + 1]
    service.redis.xadd(service.stream, {EVENT_FIELD: orjson.dumps(streamed)})
    wait_for(lambda: head(service) == before + 2, what="the streamed event")
    for doc in (over_http, streamed):
        got = service.store.get(uuid.UUID(doc["event_id"]))
        assert got is not None
        assert canonical_bytes(got) == canonical_bytes(BaseEvent.parse(doc))
        with service.server.client(None) as client:
            served = client.get(f"/events/{doc['event_id']}").json()
        assert served[path[0]][path[1]] == text  # and over HTTP, the text as it was sent
        service.ledger.append(doc["event_id"])


# --- duplicate ids, causation ------------------------------------------------------------------

CHANGES = ["timestamp_logical", "payload", "metadata", "correlation_id"]
# A different but valid payload field, by event type ("" for every type with a symbol).
FORGED: dict[str, dict[str, Any]] = {
    "": {"symbol": "ETHUSDT"},
    "alert": {"message": "forged"},
    "state_snapshot": {"at_sequence": 8},
}


@settings(SETTINGS, max_examples=10)
@given(position=st.integers(min_value=0, max_value=12), change=st.sampled_from(CHANGES))
def test_duplicate_ids_with_different_content(service: Service, position: int, change: str) -> None:
    original = service.store.get(uuid.UUID(service.ledger[position]))  # a seeded event
    assert original is not None
    doc = canonical_document(original)
    if change == "timestamp_logical":
        doc[change] += 1
    elif change == "payload":  # one field changed, the rest as stored
        doc["payload"] = {**doc["payload"], **FORGED.get(original.event_type.value, FORGED[""])}
    elif change == "metadata":
        doc["metadata"] = {**doc["metadata"], "environment": "production"}
    else:
        doc["correlation_id"] = str(uuid.uuid4())
    error = refused_over_http(service, [doc], 409, str(original.event_id))
    assert "different content" in error
    assert str(original.event_id) in dead_lettered(service, orjson.dumps(doc), "conflict")
    # The same content again is no conflict: the stored event, at its own sequence number.
    again = post(service, canonical_document(original))
    assert again.json()["sequence_numbers"] == [original.sequence_number]


def test_duplicate_ids_inside_one_batch(service: Service) -> None:
    event = service.good()
    twin = {**canonical_document(event), "timestamp_logical": event.timestamp_logical + 1}
    assert "different content" in refused_over_http(
        service, [canonical_document(event), twin], 409, "events[1]"
    )
    assert service.store.get(event.event_id) is None


def test_self_causation(service: Service) -> None:
    doc = canonical_document(service.good())
    doc["causation_id"] = doc["event_id"]
    refused_over_http(service, [doc], 422, "events[0].causation_id")
    dead_lettered(service, orjson.dumps(doc), "causation_id")


def test_a_causation_cycle(service: Service) -> None:
    market_data, signal = trade(factory("cycle"))[:2]  # signal <- market data
    looped = canonical_document(market_data)
    looped["causation_id"] = str(signal.event_id)  # and market data <- signal
    batch = [looped, canonical_document(signal)]
    assert "later event of this batch" in refused_over_http(service, batch, 422, "causation_id")
    # On the stream each waits for the other; after the grace period both are dead letters.
    reasons = publish_around(service, *({EVENT_FIELD: orjson.dumps(d)} for d in batch))
    assert all(b"unknown cause" in r for r in reasons), reasons
    assert service.store.get(market_data.event_id) is None


@FEW
@given(index=st.integers(min_value=1, max_value=6), cause=st.uuids(version=4))
def test_unknown_causes(service: Service, index: int, cause: uuid.UUID) -> None:
    doc = documents()[index]
    doc["causation_id"] = str(cause)
    assert "no stored event" in refused_over_http(service, [doc], 422, "causation_id")
    assert "grace period" in dead_lettered(service, orjson.dumps(doc), "unknown cause")


# --- afterwards --------------------------------------------------------------------------------


def test_the_log_holds_exactly_the_good_events_and_verifies(service: Service) -> None:
    # Runs last (file order): everything above added only its good events.
    assert [str(r.event_id) for r in service.store.iter_records()] == service.ledger
    report = verify_log(service.store)
    assert report.ok, report.to_document()
    assert report.checked == len(service.ledger)
    assert service.redis.xlen(service.dead_stream) == service.dead_letters
    untyped: Any = service.redis
    assert int(untyped.xpending(service.stream, GROUP)["pending"]) == 0
