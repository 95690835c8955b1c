"""The Event Store Service through a real `claire serve` (uvicorn) process and httpx.

Start-up is the documented no-Docker path: `claire db migrate`, then `claire serve`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from claire.events.codec import canonical_document
from claire.ingest import EventPublisher
from rigs.factories import factory, trade
from tests.conftest import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
CLAIRE = [sys.executable, "-m", "claire.cli.app"]
READ, WRITE = "read-secret", "write-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def claire(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from claire.cli.app import main; main()"
    return subprocess.run(  # noqa: PLW1510 - the return code is asserted
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
    )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    stream: str

    def client(self, token: str | None = READ) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def start_server(
    env: dict[str, str], *args: str, ready: bool = True, log: Path | None = None
) -> Server:
    """`claire serve` on a free port; waits until it answers, and (`ready`) until readiness
    says 200 (the ingest worker has started reading). `log` receives its stderr."""
    port = free_port()
    stderr = log.open("wb") if log is not None else subprocess.PIPE
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from claire.cli.app import main; main()",
            "serve",
            "--port",
            str(port),
            *args,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text() if log else process.stderr.read().decode()  # type: ignore[union-attr]
            raise AssertionError(f"claire serve exited: {output}")
        try:
            status = httpx.get(f"{url}/health/ready", timeout=1).status_code
            if status == 200 or (status == 503 and not ready):
                return Server(url, process, env, env.get("CLAIRE_INGEST_STREAM", ""))
            time.sleep(0.1)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("claire serve was not ready (GET /health/ready) within 30 s")


def stop_server(server: Server) -> int:
    server.process.terminate()
    try:
        return server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        raise


@pytest.fixture(scope="module")
def database(pg_admin_url: str) -> Iterator[str]:
    with throwaway_database(pg_admin_url, "api") as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str, redis_base_url: str) -> Iterator[Server]:
    import redis

    prefix = f"claire-test:{uuid.uuid4().hex[:12]}:"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database,
        "REDIS_URL": redis_base_url,
        "CLAIRE_WRITE_TOKEN": WRITE,
        "CLAIRE_READ_TOKEN": READ,
        "CLAIRE_INGEST_STREAM": f"{prefix}events",
        "CLAIRE_PUBSUB_CHANNEL": f"{prefix}channel",
    }
    migrated = claire(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    running = start_server(env)
    try:
        yield running
    finally:
        assert stop_server(running) == 0
        client = redis.Redis.from_url(redis_base_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def post(server: Server, events: Any, token: str | None = WRITE) -> httpx.Response:
    with server.client(token) as client:
        body = events if isinstance(events, bytes) else orjson.dumps(events)
        return client.post("/events", content=body)


def documents(events: list[Any]) -> list[dict[str, Any]]:
    return [canonical_document(e) for e in events]


def test_health_reports_store_and_redis(server: Server) -> None:
    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok"
    assert body["store"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"


def test_post_then_read_every_view(server: Server) -> None:
    events = trade(factory("api"))
    response = post(server, documents(events))
    assert response.status_code == 201, response.text
    sequences = response.json()["sequence_numbers"]
    assert sequences == list(range(sequences[0], sequences[0] + 5))

    with server.client() as client:
        one = client.get(f"/events/{events[2].event_id}").json()
        assert one["event_type"] == "risk_decision"
        assert one["sequence_number"] == sequences[2]
        chain = client.get(f"/events/{events[4].event_id}/causation").json()
        assert [e["event_id"] for e in chain["chain"]] == [str(e.event_id) for e in events]
        explained = client.get(f"/events/{events[2].event_id}/explain")
        assert explained.status_code == 200
        assert str(events[0].event_id) in explained.text
        trace = client.get(f"/correlations/{events[0].correlation_id}").json()
        assert trace["total_events"] == 5
        stats = client.get("/stats").json()
        assert stats["total_events"] >= 5
        assert stats["head_sequence"] >= sequences[-1]

    # Posting the same events again stores nothing twice.
    again = post(server, documents(events))
    assert again.status_code == 201
    assert again.json()["sequence_numbers"] == sequences


def test_paging_by_sequence(server: Server) -> None:
    f = factory("pager")
    assert post(server, documents([e for _ in range(4) for e in trade(f)])).status_code == 201
    seen: list[int] = []
    with server.client() as client:
        start: int | None = 1
        while start is not None:
            page = client.get("/events", params={"from_sequence": start, "limit": 7}).json()
            seen += [e["sequence_number"] for e in page["events"]]
            start = page["next_from_sequence"]
        filtered = client.get("/events", params={"event_type": "signal_generated"}).json()
    assert seen == list(range(1, len(seen) + 1))
    assert len(seen) >= 20
    assert filtered["events"]
    assert {e["event_type"] for e in filtered["events"]} == {"signal_generated"}


def test_errors_are_json_with_clear_messages(server: Server) -> None:
    with server.client() as client:
        unknown = client.get(f"/events/{uuid.uuid4()}")
        malformed = client.get("/events/not-a-uuid")
        bad_range = client.get("/events", params={"from_sequence": 9, "to_sequence": 3})
        bad_limit = client.get("/events", params={"limit": "lots"})
        huge = client.get("/events", params={"from_sequence": 10**30})
        no_explain = client.get(f"/events/{uuid.uuid4()}/explain")
        no_trace = client.get(f"/correlations/{uuid.uuid4()}")
    assert unknown.status_code == 404 and "no event with event_id" in unknown.json()["error"]
    assert malformed.status_code == 422
    assert malformed.json()["problems"][0]["field"] == "path.event_id"
    assert bad_range.status_code == 422 and "to_sequence" in bad_range.json()["error"]
    assert bad_limit.status_code == 422 and "query.limit" in bad_limit.json()["error"]
    assert huge.status_code == 422
    assert no_explain.status_code == 404 and no_trace.status_code == 404

    bad_json = post(server, b"not json")
    assert bad_json.status_code == 422
    invalid = trade()[0].model_dump(mode="json")
    invalid["payload"]["price"] = "-1"
    rejected = post(server, [invalid])
    assert rejected.status_code == 422
    assert rejected.json()["problems"][0]["field"].startswith("events[0].payload.price")
    too_big = post(server, {"blob": "x" * (1024 * 1024 + 10)})
    assert too_big.status_code == 413 and "1 MiB" in too_big.json()["error"]
    orphan = trade()[1]  # a signal whose market data was never stored
    assert post(server, documents([orphan])).status_code == 422


def test_tokens_are_required(server: Server) -> None:
    assert httpx.get(f"{server.url}/stats").status_code == 401
    assert (
        httpx.get(f"{server.url}/stats", headers={"Authorization": "Bearer x"}).status_code == 401
    )
    with server.client(WRITE) as client:
        assert client.get("/stats").status_code == 200  # the write token may read
    refused = post(server, documents(trade()), token=READ)
    assert refused.status_code == 401
    assert "invalid bearer token" in refused.json()["error"]


def test_sse_tail_catches_up_then_follows(server: Server) -> None:
    with server.client() as client:
        head = client.get("/stats").json()["head_sequence"]
    assert head >= 1
    fresh = trade(factory("tail")) + trade(factory("tail"))
    received: list[dict[str, Any]] = []
    with (
        server.client() as client,
        client.stream(
            "GET", "/events/stream", params={"from_sequence": 1, "max_events": head + 10}
        ) as response,
    ):
        assert response.status_code == 200
        data_lines = response.iter_lines()
        for text in data_lines:
            if text.startswith("data: "):
                received.append(orjson.loads(text[6:]))
                if len(received) == head:
                    # Connected and caught up: append while the tail is open.
                    assert post(server, documents(fresh[:5])).status_code == 201
                    assert post(server, documents(fresh[5:])).status_code == 201
    sequences = [e["sequence_number"] for e in received]
    assert sequences == list(range(1, head + 11))
    assert [e["event_id"] for e in received[head:]] == [str(e.event_id) for e in fresh]


def test_metrics_and_docs(server: Server) -> None:
    text = httpx.get(f"{server.url}/metrics").text
    for name in (
        "claire_http_requests_total",
        "claire_events_appended_total",
        "claire_append_latency_seconds_bucket",
        "claire_ingest_stream_length",
        "claire_ingest_pending",
        "claire_dead_letters",
    ):
        assert name in text, name
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/events", "/events/{event_id}/explain", "/correlations/{correlation_id}"} <= set(paths)


def appended_total(server: Server, source: str) -> float:
    """claire_events_appended_total summed over event types, for one door."""
    total = 0.0
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("claire_events_appended_total{") and f'source="{source}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_appended_metric_counts_events_stored_not_reposts(
    server: Server, redis_base_url: str
) -> None:
    events = trade(factory("metric"))
    before = appended_total(server, "http")
    assert post(server, documents(events)).status_code == 201
    assert appended_total(server, "http") == before + len(events)
    # The same events again, and one new one with them: only the new one counts.
    again = [*events, *trade(factory("metric-2"))[:1]]
    assert post(server, documents(again)).status_code == 201
    assert appended_total(server, "http") == before + len(events) + 1
    # Through the stream (the worker's door): events already stored count nothing.
    ingest_before = appended_total(server, "ingest")
    fresh = trade(factory("metric-3"))[:1]
    with EventPublisher(redis_base_url, stream=server.stream) as publisher:
        publisher.publish_batch([*events, *fresh])
    deadline = time.monotonic() + 20
    while appended_total(server, "ingest") < ingest_before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # had the re-sent events counted, they would have by now
    assert appended_total(server, "ingest") == ingest_before + 1


def test_serve_ingests_from_the_stream_and_pubsub(server: Server, redis_base_url: str) -> None:
    streamed, broadcast = trade(factory("producer"))[:2]  # market data, then its signal
    with EventPublisher(redis_base_url, stream=server.stream) as publisher:
        publisher.publish(streamed)
    import redis

    client = redis.Redis.from_url(redis_base_url)
    channel = server.env["CLAIRE_PUBSUB_CHANNEL"]
    deadline = time.monotonic() + 20
    while client.pubsub_numsub(channel)[0][1] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.publish(channel, orjson.dumps(canonical_document(broadcast)))
    with server.client() as http:
        for event in (streamed, broadcast):
            while time.monotonic() < deadline:
                if http.get(f"/events/{event.event_id}").status_code == 200:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"event {event.event_id} was not ingested")


def test_post_is_disabled_without_a_write_token(database: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database,
        "CLAIRE_WRITE_TOKEN": "",
        "CLAIRE_READ_TOKEN": "",
    }
    env.pop("REDIS_URL", None)
    running = start_server(env, "--no-ingest")
    try:
        refused = post(running, documents(trade()), token=None)
        health = httpx.get(f"{running.url}/health").json()
    finally:
        assert stop_server(running) == 0
    assert refused.status_code == 403
    assert "CLAIRE_WRITE_TOKEN" in refused.json()["error"]
    assert health["redis"]["status"] == "not configured"


def test_serve_refuses_public_reads_without_a_read_token(database: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": database}
    env.pop("CLAIRE_READ_TOKEN", None)
    env.pop("REDIS_URL", None)
    refused = claire(["serve", "--no-ingest", "--host", "0.0.0.0"], env)
    assert refused.returncode == 2
    assert "refusing to serve reads on 0.0.0.0 without a read token" in refused.stderr
    assert "--allow-public-reads" in refused.stderr
    # Told so, it serves (here on all interfaces, probed on the loopback one).
    running = start_server(env, "--no-ingest", "--host", "0.0.0.0", "--allow-public-reads")
    try:
        assert httpx.get(f"{running.url}/health/live").json() == {"status": "ok"}
    finally:
        assert stop_server(running) == 0
