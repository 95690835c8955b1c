"""POST /events with If-Match (issue 15 §2) through a real `claire serve` process.

If-Match names the head the client decided on; the server appends only if it is still the
head (412 with both numbers otherwise, nothing stored), refuses a malformed header (422), and
documents the header and the 412 in its OpenAPI document.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from claire.events.codec import canonical_document
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_api_service import (
    READ,
    ROOT,
    WRITE,
    Server,
    claire,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def server(pg_admin_url: str, redis_base_url: str) -> Iterator[Server]:
    with throwaway_database(pg_admin_url, "ifmatch") as database:
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


def post(server: Server, events: list[Any], if_match: str | None) -> httpx.Response:
    headers = {"If-Match": if_match} if if_match is not None else {}
    body = orjson.dumps([canonical_document(e) for e in events])
    with server.client(WRITE) as client:
        return client.post("/events", content=body, headers=headers)


def head(server: Server) -> int:
    with server.client(READ) as client:
        sequence: int = client.get("/stats").json()["head_sequence"]
        return sequence


def stored(server: Server, event_id: uuid.UUID) -> bool:
    with server.client(READ) as client:
        return client.get(f"/events/{event_id}").status_code == 200


def test_if_match_appends_at_the_head_and_412_names_both_numbers(server: Server) -> None:
    start = head(server)
    first = trade(factory("ifmatch"))
    accepted = post(server, first, str(start))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["sequence_numbers"] == list(range(start + 1, start + 6))

    late = trade(factory("late"))
    refused = post(server, late, f'"{start}"')  # the head it read before the append above
    assert refused.status_code == 412, refused.text
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body["status"] == 412
    assert (body["expected_sequence"], body["head_sequence"]) == (start, start + 5)
    assert f"the head of the log is sequence {start + 5}, not {start}" in body["error"]
    assert body["problems"] == [
        {"field": "header.If-Match", "reason": f"the head is sequence {start + 5}, not {start}"}
    ]
    assert head(server) == start + 5
    assert not any(stored(server, e.event_id) for e in late)

    # Read again, decide again: the new head is accepted, quoted as an entity tag too.
    again = post(server, late, f'"{start + 5}"')
    assert again.status_code == 201, again.text
    # A retry of an append that succeeded (its answer lost) gets its numbers back.
    repeat = post(server, first, str(start))
    assert repeat.status_code == 201, repeat.text
    assert repeat.json()["sequence_numbers"] == list(range(start + 1, start + 6))
    # Without the header an append is unconditional, as before.
    assert post(server, trade(factory("plain")), None).status_code == 201


@pytest.mark.parametrize("value", ["abc", "*", 'W/"5"', "-1", "5, 6", "1" * 19, '"5', ""], ids=repr)
def test_a_malformed_if_match_is_refused_with_422(server: Server, value: str) -> None:
    before = head(server)
    events = trade(factory("malformed"))
    refused = post(server, events, value)
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert problem["field"] == "header.If-Match"
    assert "must be the sequence number of the head you expect" in problem["reason"]
    assert head(server) == before
    assert not stored(server, events[0].event_id)


def test_of_concurrent_posts_with_the_same_if_match_exactly_one_is_stored(
    server: Server,
) -> None:
    expected = head(server)
    batches = [trade(factory(f"rival-{i}")) for i in range(8)]
    with ThreadPoolExecutor(len(batches)) as pool:
        responses = list(pool.map(lambda b: post(server, b, str(expected)), batches))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [412] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 412:
            assert response.json()["head_sequence"] == expected + 5
    assert head(server) == expected + 5


def test_the_openapi_document_describes_if_match_and_412(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    operation = document["paths"]["/events"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "If-Match"
    assert header["required"] is False
    assert "Conditional append" in header["description"]
    assert header["schema"]["anyOf"][0]["pattern"] == r'^(?:[0-9]{1,18}|"[0-9]{1,18}")$'
    response = operation["responses"]["412"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PreconditionFailed"
    }
    fields = document["components"]["schemas"]["PreconditionFailed"]["properties"]
    assert {"expected_sequence", "head_sequence", "error", "status", "problems"} <= set(fields)
