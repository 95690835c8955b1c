"""Service benchmark (issue 6): ingestion Redis -> PostgreSQL, end-to-end latency, explain p99.

Every figure beside baselines measured in the same run: the raw XADD and XREADGROUP+XACK
rates of this Redis and the store's own batched append rate bound what one worker can do.
`CLAIRE_BENCH_SCALE=0.05` for a quick look.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from benchmarks.common import (
    BENCH_REDIS_URL,
    Timer,
    heading,
    line,
    percentile,
    scaled,
    throwaway_postgres,
    verdict,
)
from benchmarks.store_events import decision_chains
from claire.audit.explain import explain_event
from claire.events import BaseEvent, EventType
from claire.ingest import IngestConfig, IngestWorker
from claire.ingest.streams import EVENT_FIELD, encode_event
from claire.ingest.worker import Item
from claire.store import open_store

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1000
INGEST_TARGET = 10_000.0
LATENCY_RATE = 2_000
LATENCY_TARGET_MS = 50.0
EXPLAIN_TARGET_MS = 20.0
# Requests per explain figure, and a time budget per figure so a slow store cannot stall the run.
EXPLAIN_SAMPLES = 500
SAMPLE_BUDGET_S = 60.0

# The paced producer of the latency test: XADD one event at a time at a fixed rate, each with
# its publish moment (CLOCK_MONOTONIC is system-wide, so the worker process can compare).
PACED_PRODUCER = """
import sys, time
import orjson
from claire.ingest.streams import EVENT_FIELD
url, stream, rate, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
import redis
client = redis.Redis.from_url(url)
messages = orjson.loads(open(path, "rb").read())
start = time.monotonic() + 0.2
for i, data in enumerate(messages):
    due = start + i / rate
    while (delay := due - time.monotonic()) > 0:
        time.sleep(min(delay, 0.0005))
    client.xadd(stream, {EVENT_FIELD: data.encode(), b"t": repr(time.monotonic()).encode()})
"""


def build_events(n: int, service: str = "bench") -> list[BaseEvent]:
    """Decision chains with causation, one producer per service (its own ids and clock)."""
    return list(decision_chains(n, seed=zlib.crc32(service.encode()), service=service))


@contextmanager
def redis_keys() -> Iterator[tuple[redis.Redis[bytes], str]]:
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    prefix = f"claire-bench:{uuid.uuid4().hex[:10]}:"
    try:
        yield client, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def xadd_all(client: redis.Redis[bytes], stream: str, encoded: list[bytes]) -> float:
    timer = Timer()
    for start in range(0, len(encoded), CHUNK):
        pipe = client.pipeline(transaction=False)
        for data in encoded[start : start + CHUNK]:
            pipe.xadd(stream, {EVENT_FIELD: data})
        pipe.execute()
    return len(encoded) / timer.seconds


def read_and_ack_all(client: redis.Redis[bytes], stream: str, n: int) -> float:
    client.xgroup_create(stream, "raw", id="0")
    untyped: Any = client  # the stubs leave XACK untyped
    timer, seen = Timer(), 0
    while seen < n:
        reply = untyped.xreadgroup("raw", "c", {stream: ">"}, count=CHUNK)
        messages = reply[0][1]
        untyped.xack(stream, "raw", *[m[0] for m in messages])
        seen += len(messages)
    return n / timer.seconds


def store_append_rate(events: list[BaseEvent]) -> float:
    with throwaway_postgres("claire_bench_svc") as url, open_store(url, create=True) as store:
        timer = Timer()
        for start in range(0, len(events), CHUNK):
            store.append(events[start : start + CHUNK])
        return len(events) / timer.seconds


def worker_rate(stream: str, n: int) -> tuple[float, int]:
    """One worker draining `n` already published events into a fresh database."""
    done = threading.Event()
    with throwaway_postgres("claire_bench_svc") as url, open_store(url, create=True) as store:
        config = IngestConfig(stream=stream, group="ingest", consumer="bench")
        stored = 0

        def committed(items: list[Item]) -> None:
            nonlocal stored
            stored += len(items)
            if stored >= n:
                done.set()
                worker.stop()

        worker = IngestWorker(store, BENCH_REDIS_URL, config, on_commit=committed)
        thread = threading.Thread(target=worker.run)
        timer = Timer()
        thread.start()
        done.wait()
        elapsed = timer.seconds
        thread.join()
        return n / elapsed, store.head().sequence_number


def latency_run(prefix: str, events: list[BaseEvent]) -> list[float]:
    """Publish at LATENCY_RATE from another process; time publish -> commit per event (ms)."""
    import orjson

    stream = f"{prefix}latency"
    latencies: list[float] = []
    with throwaway_postgres("claire_bench_svc") as url, open_store(url, create=True) as store:
        config = IngestConfig(stream=stream, group="ingest", consumer="lat")

        def committed(items: list[Item]) -> None:
            now = time.monotonic()
            latencies.extend((now - float(i.fields[b"t"])) * 1000 for i in items)
            if len(latencies) >= len(events):
                worker.stop()

        worker = IngestWorker(store, BENCH_REDIS_URL, config, on_commit=committed)
        thread = threading.Thread(target=worker.run)
        thread.start()
        path = Path(f"/tmp/{prefix.replace(':', '_')}latency.json")
        path.write_bytes(orjson.dumps([encode_event(e).decode() for e in events]))
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    PACED_PRODUCER,
                    BENCH_REDIS_URL,
                    stream,
                    str(LATENCY_RATE),
                    str(path),
                ],
                env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
                check=True,
            )
            thread.join(timeout=120)
        finally:
            worker.stop()
            path.unlink()
    return latencies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def explain_figures(n: int) -> tuple[list[float], list[float], list[float]]:
    """(explain over HTTP, GET /events/{id} over HTTP, explain in-process) latencies in ms."""
    with throwaway_postgres("claire_bench_svc") as url:
        rng = random.Random(7)
        decisions: list[uuid.UUID] = []
        with open_store(url, create=True) as store:
            timer = Timer()
            for start in range(0, n, CHUNK):
                batch = build_events(min(CHUNK, n - start), service=f"s{start}")
                store.append(batch)
                decisions += [e.event_id for e in batch if e.event_type is EventType.RISK_DECISION]
            line(
                "log built through store.append (1,000 per batch)",
                f"{n:,} events",
                f"{timer.seconds:.0f} s",
            )
            sample = rng.sample(decisions, min(EXPLAIN_SAMPLES, len(decisions)))
            local = []
            deadline = time.monotonic() + SAMPLE_BUDGET_S
            for event_id in sample:
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                explain_event(store, event_id).to_document()
                local.append((time.perf_counter() - started) * 1000)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
        env.pop("CLAIRE_READ_TOKEN", None)
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from claire.cli.app import main; main()",
                "serve",
                "--no-ingest",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={k: v for k, v in env.items() if k != "REDIS_URL"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                while True:
                    try:
                        if client.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                explain = _timed(client, [f"/events/{i}/explain" for i in sample])
                plain = _timed(client, [f"/events/{i}" for i in sample])
        finally:
            server.terminate()
            server.wait()
    return explain, plain, local


def _timed(client: httpx.Client, paths: list[str]) -> list[float]:
    for path in paths[:5]:  # warm up connections and caches
        client.get(path).raise_for_status()
    times: list[float] = []
    deadline = time.monotonic() + SAMPLE_BUDGET_S
    for path in paths:
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def run() -> None:
    heading("service: Redis Stream -> ingest worker -> PostgreSQL")
    n = scaled(200_000)
    events = build_events(n)
    encoded = [encode_event(e) for e in events]
    with redis_keys() as (client, prefix):
        stream = f"{prefix}events"
        xadd = xadd_all(client, stream, encoded)
        raw_read = read_and_ack_all(client, stream, n)
        append = store_append_rate(events)
        rate, stored = worker_rate(stream, n)
        line("baseline: raw XADD, pipelined 1,000", f"{xadd:,.0f} msg/s")
        line("baseline: raw XREADGROUP + XACK, 1,000 per call", f"{raw_read:,.0f} msg/s")
        line("baseline: store.append, 1,000 per batch (PostgreSQL)", f"{append:,.0f} ev/s")
        line(
            f"ingest worker, one, {n:,} events (stored {stored:,})",
            f"{rate:,.0f} ev/s",
            f"{rate / append:.2f}x store append; target >= {INGEST_TARGET:,.0f}: "
            f"{verdict(rate >= INGEST_TARGET and stored == n)}",
        )

        heading(f"service: publish -> committed latency at {LATENCY_RATE:,} events/s")
        paced = build_events(scaled(LATENCY_RATE * 15), service="paced")
        latencies = latency_run(prefix, paced)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    line(f"events published at {LATENCY_RATE:,}/s, committed", f"{len(latencies):,}")
    line("publish -> committed p50", f"{p50:.1f} ms")
    line(
        "publish -> committed p99",
        f"{p99:.1f} ms",
        f"max {max(latencies):.1f} ms; target <= {LATENCY_TARGET_MS:.0f} ms: "
        f"{verdict(p99 <= LATENCY_TARGET_MS and len(latencies) == len(paced))}",
    )

    log_size = scaled(1_000_000)
    heading(f"service: GET /events/{{id}}/explain with {log_size:,} events stored")
    explain, plain, local = explain_figures(log_size)
    line(
        "baseline: explain_event in-process p99",
        f"{percentile(local, 99):.2f} ms",
        f"{len(local)} samples",
    )
    line("baseline: GET /events/{id} p99 (same HTTP stack)", f"{percentile(plain, 99):.2f} ms")
    line(
        "GET /events/{id}/explain p50",
        f"{percentile(explain, 50):.2f} ms",
        f"{len(explain)} samples",
    )
    p99_explain = percentile(explain, 99)
    line(
        "GET /events/{id}/explain p99",
        f"{p99_explain:.2f} ms",
        f"{p99_explain / percentile(plain, 99):.1f}x GET /events/{{id}}; target <= "
        f"{EXPLAIN_TARGET_MS:.0f} ms: {verdict(p99_explain <= EXPLAIN_TARGET_MS)}",
    )


if __name__ == "__main__":
    run()
