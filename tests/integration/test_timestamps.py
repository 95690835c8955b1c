"""Timestamps a store can live with (issue 12 §6).

A log that already holds an event at 9999-12-31T23:59:59.999999Z (written before future times
were refused) stays readable by every read command, and any date argument (`--to 9999-12-31`)
works, without a traceback; the doors (POST /events, the ingest worker) refuse a producer's
timestamp beyond the allowed skew, naming the field and the skew.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from claire.audit.keys import KEY_ENV, load_or_create_key
from claire.events import BaseEvent
from claire.events.codec import canonical_document
from claire.ingest import EventPublisher, IngestConfig, IngestWorker
from claire.store import open_store
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, WRITE, start_server, stop_server

CLAIRE = str(Path(sys.executable).with_name("claire"))
EDGE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@dataclass(frozen=True)
class FarLog:
    url: str
    base: Path
    far: list[BaseEvent]  # a trade ending at the last representable microsecond


def record_far_log(url: str) -> list[BaseEvent]:
    far = trade(factory("far", start=EDGE - timedelta(seconds=4)))
    assert far[-1].timestamp_utc == EDGE
    with open_store(url, create=True) as store:
        store.append(trade())
        store.max_future_skew = None  # as before the rule
        store.append(far)
    return far


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def far_log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FarLog]:
    base = tmp_path_factory.mktemp("far")
    load_or_create_key(base / "key.pem")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{base / 'events.db'}"
        else:
            admin = request.getfixturevalue("pg_admin_url")
            url = stack.enter_context(throwaway_database(admin, "far"))
        yield FarLog(url, base, record_far_log(url))


@pytest.fixture(scope="module")
def far_sqlite(tmp_path_factory: pytest.TempPathFactory) -> FarLog:
    base = tmp_path_factory.mktemp("far_sqlite")
    load_or_create_key(base / "key.pem")
    url = f"sqlite:///{base / 'events.db'}"
    return FarLog(url, base, record_far_log(url))


def claire(log: FarLog, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "XDG_CONFIG_HOME": str(log.base / "config"),
        "XDG_STATE_HOME": str(log.base / "state"),
        KEY_ENV: str(log.base / "key.pem"),
    }
    return subprocess.run(
        [CLAIRE, *args, "--database-url", log.url],
        cwd=log.base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_read_commands_cope_with_the_edge_of_time(far_log: FarLog) -> None:
    out = str(far_log.base / "all.jsonl")
    for args in (
        ["stats"],
        ["stats", "--until", "9999-12-31"],
        ["export", "--from", "2025-01-01", "--to", "9999-12-31", "-o", out],
        ["replay", "--to", "9999-12-31"],
        ["replay", "--from", "0001-01-01", "--to", "9999-12-31T23:59:59.999999"],
    ):
        done = claire(far_log, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
    stats = orjson.loads(claire(far_log, "stats", "--json").stdout)
    assert stats["window"] == {
        "basis": "last_24h_of_recorded_time",
        "since": "9999-12-30T23:59:59.999999Z",
        "until": None,  # one microsecond after the newest event is beyond the calendar
    }
    assert max(t["last_event"] for t in stats["event_types"]) == "9999-12-31T23:59:59.999999Z"
    assert "9999-12-31T23:59:59.999999Z" in Path(out).read_text(encoding="utf-8")
    demo = claire(far_log, "demo")
    assert demo.returncode == 1 and "Traceback" not in demo.stderr
    assert "ends on 9999-12-31: there is no day after it" in demo.stderr


def test_audit_views_show_the_far_events(far_sqlite: FarLog) -> None:
    far_log = far_sqlite
    decision, result = far_log.far[2], far_log.far[-1]
    for args in (
        ["verify"],
        ["explain", str(decision.event_id)],
        ["trace", str(result.correlation_id)],
        ["scene", "--at", "9999-12-31T23:59:59.999999"],
    ):
        done = claire(far_log, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr


def test_post_events_refuses_a_future_timestamp_and_reads_the_far_log(far_sqlite: FarLog) -> None:
    far_log = far_sqlite
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": far_log.url}
    env |= {"CLAIRE_WRITE_TOKEN": WRITE}
    for name in ("CLAIRE_READ_TOKEN", "REDIS_URL", "CLAIRE_MAX_FUTURE_SKEW"):
        env.pop(name, None)
    server = start_server(env, "--no-ingest")
    try:
        now = datetime.now(UTC)
        late = factory("skewed", start=now + timedelta(hours=1)).create_alert(
            level="INFO", code="late", message="an hour ahead", correlation_id=uuid.uuid4()
        )
        soon = factory("skewed", start=now + timedelta(minutes=1)).create_alert(
            level="INFO", code="soon", message="a minute ahead", correlation_id=uuid.uuid4()
        )
        with httpx.Client(base_url=server.url, timeout=10) as client:
            headers = {"Authorization": f"Bearer {WRITE}"}
            body = orjson.dumps(canonical_document(late))
            refused = client.post("/events", content=body, headers=headers)
            assert refused.status_code == 422, refused.text
            assert "events[0].timestamp_utc" in refused.text
            assert "at most 300 s ahead is accepted (CLAIRE_MAX_FUTURE_SKEW)" in refused.text
            body = orjson.dumps(canonical_document(soon))
            assert client.post("/events", content=body, headers=headers).status_code == 201
            for path in (
                "/stats",
                "/events?from_sequence=1",
                f"/events/{far_log.far[-1].event_id}",
            ):
                read = client.get(path)
                assert read.status_code == 200, (path, read.text)
            assert "9999-12-31T23:59:59.999999Z" in client.get("/events?from_sequence=6").text
    finally:
        assert stop_server(server) == 0


def test_the_ingest_worker_dead_letters_a_future_event(
    tmp_path: Path, redis_base_url: str, redis_prefix: str
) -> None:
    config = IngestConfig(stream=f"{redis_prefix}events", consumer="skew", block_ms=100)
    f = factory("ingest")
    before, after = trade(f), trade(f)
    late = factory("skewed", start=datetime.now(UTC) + timedelta(days=1)).create_alert(
        level="INFO", code="late", message="a day ahead", correlation_id=uuid.uuid4()
    )
    with EventPublisher(redis_base_url, stream=config.stream) as publisher:
        publisher.publish_batch(before)
        publisher.publish(late)
        publisher.publish_batch(after)
    with open_store(f"sqlite:///{tmp_path / 'events.db'}", create=True) as store:
        worker = IngestWorker(store, redis_base_url, config)
        thread = threading.Thread(target=worker.run)
        thread.start()
        deadline = time.monotonic() + 30
        while worker.counts.stored + worker.counts.dead < 11 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.stop()
        thread.join(timeout=30)
        assert [e.event_id for e in store.read()] == [e.event_id for e in before + after]
    [(_, letter)] = redis.Redis.from_url(redis_base_url).xrange(config.dead_stream)
    assert b"events[0].timestamp_utc" in letter[b"reason"]
    assert b"ahead of the receiving clock" in letter[b"reason"]


def test_the_first_year_prints_with_four_digits(tmp_path: Path) -> None:
    """Year 1 was printed `1-01-01` (strftime's %Y): by scene, explain --at and stats."""
    load_or_create_key(tmp_path / "key.pem")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(trade(factory("first", start=datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC))))
    log = FarLog(url, tmp_path, [])
    before = claire(log, "scene", "--at", "0001-01-01")
    assert before.returncode == 1 and "Traceback" not in before.stderr
    assert "nothing recorded at or before 0001-01-01 00:00:00 UTC" in before.stderr
    assert "the log starts at 0001-01-01 00:00:01 UTC" in before.stderr
    scene = claire(log, "scene", "--at", "0001-01-01T00:00:10Z")
    assert scene.returncode == 0, scene.stderr
    assert "SCENE AT 0001-01-01 00:00:10 UTC" in scene.stdout
    stats = claire(log, "stats")
    assert stats.returncode == 0, stats.stderr
    assert "0001-01-01 00:00:01" in stats.stdout and " 1-01-01" not in stats.stdout


def test_post_events_refuses_times_outside_the_utc_calendar_with_422(far_sqlite: FarLog) -> None:
    """0001-01-01T00:00:01+01:02 is in year 0 in UTC: it was a 500 (OverflowError in to_utc)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": far_sqlite.url}
    env |= {"CLAIRE_WRITE_TOKEN": WRITE}
    for name in ("CLAIRE_READ_TOKEN", "REDIS_URL"):
        env.pop(name, None)
    server = start_server(env, "--no-ingest")
    try:
        template = canonical_document(
            factory("edge").create_alert(
                level="INFO", code="edge", message="edge", correlation_id=uuid.uuid4()
            )
        )
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for stamp in (
                "0001-01-01T00:00:01+01:02",
                "0001-01-01T23:59:59+23:59",
                "9999-12-31T23:59:59-01:00",
                "9999-12-31T00:00:00-00:01",
            ):
                body = orjson.dumps({**template, "timestamp_utc": stamp})
                answer = client.post(
                    "/events", content=body, headers={"Authorization": f"Bearer {WRITE}"}
                )
                assert answer.status_code == 422, (stamp, answer.text)
                problems = answer.json()["problems"]
                assert [p["field"] for p in problems] == ["timestamp_utc"], answer.text
                assert stamp in problems[0]["reason"], answer.text
    finally:
        assert stop_server(server) == 0
