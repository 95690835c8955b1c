"""Snapshots from outside are not trusted (issue 11 §6): the attack, through a real `claire serve`.

An attacker with the write token takes the newest real snapshot, sets equity to 9999999,
recomputes the state hash and posts it (HTTP and the Redis stream): refused. A producer the
operator trusted gets one in for the same point: replay and the next recording still start from
the first-written one. One for a new point: replay says "not yet verified" and
`--verify-snapshot` catches it against a fold from the last verified point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from claire.events import BaseEvent
from claire.events.codec import canonical_document
from claire.ingest import EventPublisher
from claire.pipeline import PipelineConfig, record_demo
from claire.replay import ReplayEngine
from claire.state.model import SystemState
from claire.store import open_store
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, WRITE, Server, start_server, stop_server

TRUSTED = "trusted-feed"
CONFIG = PipelineConfig().with_overrides(
    {"session.snapshot_every": "500", "session.batch_size": "250"}
)
CLI = "from claire.cli.app import main; main()"


@dataclass
class Setup:
    server: Server
    url: str
    redis_url: str


@pytest.fixture(scope="module")
def setup(pg_admin_url: str, redis_base_url: str) -> Iterator[Setup]:
    import redis

    prefix = f"claire-test:{uuid.uuid4().hex[:12]}:"
    with throwaway_database(pg_admin_url, "trust") as url:
        with open_store(url, create=True) as store:
            record_demo(store, CONFIG, bars_per_symbol=600)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "DATABASE_URL": url,
            "REDIS_URL": redis_base_url,
            "CLAIRE_WRITE_TOKEN": WRITE,
            "CLAIRE_INGEST_STREAM": f"{prefix}events",
            "CLAIRE_PUBSUB_CHANNEL": f"{prefix}channel",
            "CLAIRE_TRUSTED_SNAPSHOT_SERVICES": f" {TRUSTED} , other-feed",
        }
        server = start_server(env)
        try:
            yield Setup(server, url, redis_base_url)
        finally:
            assert stop_server(server) == 0
            client = redis.Redis.from_url(redis_base_url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)


def claire(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": setup.url}
    return subprocess.run(  # noqa: PLW1510 - the return code is asserted
        [sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, timeout=120
    )


def forged(snapshot: BaseEvent, *, service: str, at: int | None = None) -> dict[str, Any]:
    """The attack: the snapshot with equity 9999999 and its state hash recomputed."""
    document = canonical_document(snapshot)
    state = dict(document["payload"]["state"], equity="9999999")
    if at is not None:
        state["last_sequence"] = at
    payload = {
        "at_sequence": at if at is not None else document["payload"]["at_sequence"],
        "state": state,
        "state_hash": SystemState.from_document(state).hash(),
    }
    document.update(event_id=str(uuid.uuid4()), payload=payload)
    document["metadata"] = {**document["metadata"], "service": service}
    return document


def post(setup: Setup, document: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {WRITE}"}
    return httpx.post(
        f"{setup.server.url}/events", content=orjson.dumps(document), headers=headers, timeout=10
    )


def newest_snapshot(url: str) -> tuple[BaseEvent, int]:
    with open_store(url) as store:
        head = store.head().sequence_number
        snapshot = store.latest_snapshot(head)
    assert snapshot is not None and snapshot.sequence_number is not None
    return snapshot, head


def test_a_forged_snapshot_is_refused_at_both_doors(setup: Setup) -> None:
    snapshot, head = newest_snapshot(setup.url)
    attack = forged(snapshot, service=snapshot.metadata.service)  # claims to be the recorder
    refused = post(setup, attack)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["problems"][0]["field"] == "metadata.service"
    assert "'claire-recorder' may not send state_snapshot events" in body["error"]
    assert "CLAIRE_TRUSTED_SNAPSHOT_SERVICES" in body["error"]

    stream = setup.server.stream
    with EventPublisher(setup.redis_url, stream=stream) as publisher:
        message_id = publisher.publish(BaseEvent.parse(attack))
    import redis

    client = redis.Redis.from_url(setup.redis_url)
    deadline = time.monotonic() + 30
    letters: list[Any] = []
    while not letters and time.monotonic() < deadline:
        letters = client.xrange(f"{stream}:dead")
        time.sleep(0.05)
    [(_, letter)] = letters
    assert letter[b"source_id"].decode() == message_id
    assert b"may not send state_snapshot events" in letter[b"reason"]
    assert newest_snapshot(setup.url)[1] == head  # nothing stored

    # Even a trusted producer cannot date a snapshot at or after its own position.
    ahead = forged(snapshot, service=TRUSTED, at=head + 1)
    beyond = post(setup, ahead)
    assert beyond.status_code == 422, beyond.text
    assert beyond.json()["problems"][0]["field"] == "events[0].payload.at_sequence"
    assert newest_snapshot(setup.url)[1] == head


def test_by_a_trusted_path_the_first_written_snapshot_still_wins(setup: Setup) -> None:
    snapshot, head = newest_snapshot(setup.url)
    accepted = post(setup, forged(snapshot, service=TRUSTED))  # same point, written later
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["sequence_numbers"] == [head + 1]

    replay = claire(setup, "replay", "--sequence", str(head), str(head + 1), "--json")
    assert replay.returncode == 0, replay.stderr
    document = orjson.loads(replay.stdout)
    assert document["snapshot_used"]["sequence_number"] == snapshot.sequence_number
    assert document["risk_state"]["equity"] != "9999999"
    with open_store(setup.url) as store:
        truth = ReplayEngine(store, use_snapshots=False).replay().state
        assert document["state_hash"] == truth.hash()
        # The next recording continues from the same honest state.
        nxt = record_demo(store, CONFIG, bars_per_symbol=50)
    assert nxt.started_from is not None
    assert nxt.started_from.sequence_number == snapshot.sequence_number
    assert nxt.starting_equity == truth.equity


def test_an_unverified_snapshot_says_so_and_verify_snapshot_catches_a_forgery(
    setup: Setup,
) -> None:
    recorded = claire(setup, "validate", "--record-verification", "--json")
    assert recorded.returncode == 1  # the forged snapshot of the test above fails the check
    verification = orjson.loads(recorded.stdout)["verification_recorded"]
    assert verification["recorded_sequences"]  # every honest snapshot is vouched for now
    # A trusted producer posts a forged snapshot for a point nobody snapshotted yet.
    snapshot, head = newest_snapshot(setup.url)
    before = orjson.loads(
        claire(setup, "replay", "--sequence", str(head), str(head), "--json").stdout
    )
    assert before["snapshot_used"]["verified"] is True
    latest = ("--sequence", str(head + 1), str(head + 1))
    assert post(setup, forged(snapshot, service=TRUSTED, at=head)).status_code == 201
    plain = claire(setup, "replay", *latest)
    assert plain.returncode == 0, plain.stderr
    assert f"state_snapshot at sequence {head + 1} (state as of sequence {head}), not yet " in (
        plain.stdout
    )
    checked = claire(setup, "replay", *latest, "--verify-snapshot", "--json")
    assert checked.returncode == 0, checked.stderr
    document = orjson.loads(checked.stdout)
    assert (
        f"snapshot at sequence {head + 1} (state as of {head}) does not match the fold"
        in (document["snapshot_rejected"])
    )
    assert document["snapshot_used"]["verified"] is True  # the verified point it folded from
    with open_store(setup.url) as store:
        truth = ReplayEngine(store, use_snapshots=False).replay().state
        assert document["state_hash"] == truth.hash()
        nxt = record_demo(store, CONFIG, bars_per_symbol=50, verify_snapshot=True)
    assert nxt.snapshot_rejected is not None and "does not match the fold" in nxt.snapshot_rejected
    assert nxt.starting_equity == truth.equity
