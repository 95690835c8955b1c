"""Fault rounds and the tamper matrix: does anything get lost, duplicated, or changed unseen?

Scenarios (each on a throwaway PostgreSQL database and its own Redis stream), beside a
fault-free baseline run the same way:
  - the ingest worker SIGKILLed at random (seeded) points while two producers publish;
  - the worker's PostgreSQL backends terminated again and again (or, with
    CLAIRE_BENCH_RESTART_SERVERS=1, the PostgreSQL cluster really restarted);
  - the worker's and producers' Redis connections killed (CLIENT KILL).
Then the tamper matrix (case -> first bad sequence verify names) on SQLite and PostgreSQL.

A real restart of the shared servers disturbs everything else running on the machine, and this
machine's Redis keeps no persistence (`save ""`, `appendonly no`): a restart there empties the
stream, which would lose acknowledged-but-not-yet-ingested events by configuration, not by our
code. So the servers are restarted only when asked to, and Redis never (the figure says so).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis
from tests.integration.test_faults_ingest import (
    ROOT,
    Producer,
    Rig,
    redis_clients_of,
    stored_count,
    wait_for,
)
from tests.integration.test_tamper_matrix import (
    Subject,
    postgres_subject,
    run_matrix,
    sqlite_subject,
)

from benchmarks.common import (
    BENCH_REDIS_URL,
    Timer,
    heading,
    line,
    scaled,
    throwaway_postgres,
    verdict,
)
from claire.audit.checkpoint import load_or_create_key
from claire.audit.verify import verify_log
from claire.store import open_store

RESTART = os.environ.get("CLAIRE_BENCH_RESTART_SERVERS") == "1"


def make_rig(pg_url: str, stream: str) -> Rig:
    with open_store(pg_url) as store:
        store.migrate()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DATABASE_URL": pg_url,
        "REDIS_URL": BENCH_REDIS_URL,
        "CLAIRE_INGEST_STREAM": stream,
        "CLAIRE_PUBSUB_CHANNEL": "",
        "CLAIRE_INGEST_BATCH": "100",
        "CLAIRE_CLAIM_IDLE_MS": "300",
    }
    return Rig(pg_url, BENCH_REDIS_URL, stream, env)


def tally(rig: Rig, producers: list[Producer], seconds: float) -> dict[str, Any]:
    """Published / stored / duplicated / lost, after the last worker drained the stream."""
    published = {i for p in producers for i in p.acknowledged}
    final = rig.start_worker("drain")
    # On a timeout, report what is there: the figures below then show the loss.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: stored_count(rig.pg_url) >= len(published), timeout=120, what="drain")
    final.send_signal(signal.SIGTERM)
    final.wait(timeout=60)
    with open_store(rig.pg_url) as store:
        ids = [r.event_id for r in store.iter_records()]
        chain_ok = verify_log(store).ok
    return {
        "published": len(published),
        "stored": len(ids),
        "duplicated": len(ids) - len(set(ids)),
        "lost": len(published - set(ids)),
        "verifies": chain_ok,
        "publish_errors": sum(len(p.errors) for p in producers),
        "seconds": seconds,
    }


def scenario(
    name: str, inject: Callable[[Rig, list[Producer], random.Random], int]
) -> dict[str, Any]:
    """Run producers and workers with `inject` doing the damage; return the tally."""
    with throwaway_postgres("claire_bench_faults") as pg_url:
        stream = f"claire-bench-faults:{uuid.uuid4().hex[:8]}:events"
        rig = make_rig(pg_url, stream)
        producers = [Producer(BENCH_REDIS_URL, stream, f"{name}-{n}", 100_000) for n in range(2)]
        timer = Timer()
        try:
            for producer in producers:
                producer.start()
            faults = inject(rig, producers, random.Random(20250214))
            for producer in producers:
                producer.finish.set()
                producer.join(timeout=120)
            result = tally(rig, producers, timer.seconds)
            result["faults"] = faults
            return result
        finally:
            rig.stop_all()
            client = redis.Redis.from_url(BENCH_REDIS_URL)
            client.delete(stream, f"{stream}:dead")


def no_faults(rig: Rig, producers: list[Producer], rng: random.Random) -> int:
    worker = rig.start_worker("steady")
    wait_for(lambda: stored_count(rig.pg_url) >= scaled(2000), timeout=300, what="baseline")
    worker.send_signal(signal.SIGTERM)
    worker.wait()
    return 0


def sigkill_rounds(rig: Rig, producers: list[Producer], rng: random.Random) -> int:
    rounds = max(10, scaled(40))
    for n in range(rounds):
        worker = rig.start_worker("steady" if n % 2 else f"round-{n}")
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.2))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    return rounds


def postgres_outages(rig: Rig, producers: list[Producer], rng: random.Random) -> int:
    worker = rig.start_worker("survivor")
    outages = max(4, scaled(12))
    for _ in range(outages):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, timeout=120, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.05, 0.3))
        if RESTART:
            cluster = sorted(os.listdir("/etc/postgresql"))[-1]
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
                check=True,
            )
        else:
            with psycopg.connect(rig.pg_url, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    return outages


def redis_outages(rig: Rig, producers: list[Producer], rng: random.Random) -> int:
    worker = rig.start_worker("survivor")
    admin = redis.Redis.from_url(BENCH_REDIS_URL)
    untyped: Any = admin
    outages = max(4, scaled(12))
    for _ in range(outages):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, timeout=120, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.05, 0.3))
        for pid in (worker.pid, os.getpid()):
            for addr in redis_clients_of(admin, pid):
                try:
                    untyped.client_kill(addr)
                except redis.ResponseError:
                    continue
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    return outages


def print_scenario(label: str, result: dict[str, Any], baseline: dict[str, Any]) -> None:
    heading(label)
    line("faults injected", str(result["faults"]))
    line(
        "events published (acknowledged)",
        str(result["published"]),
        f"baseline {baseline['published']}",
    )
    line("events stored", str(result["stored"]), f"baseline {baseline['stored']}")
    line("duplicated", str(result["duplicated"]), f"target 0: {verdict(result['duplicated'] == 0)}")
    line("lost", str(result["lost"]), f"target 0: {verdict(result['lost'] == 0)}")
    line("chain verifies", str(result["verifies"]), verdict(bool(result["verifies"])))
    line("publish errors retried by producers", str(result["publish_errors"]))
    line("wall time", f"{result['seconds']:.1f} s", f"baseline {baseline['seconds']:.1f} s")


def print_matrix(label: str, make: Callable[[], Subject]) -> None:
    heading(f"Tamper matrix: {label}")
    for case, report in run_matrix(make):
        broken = report.first_break
        found = f"sequence {broken.sequence_number}" if broken else "NOT DETECTED"
        ok = broken is not None and broken.sequence_number == case.first_bad
        note = (
            f"{broken.problem.value if broken else '-'}; expected {case.first_bad}: {verdict(ok)}"
        )
        line(case.name, found, note)


def run() -> None:
    baseline = scenario("baseline", no_faults)
    print_scenario("Baseline: no faults (one worker, two producers)", baseline, baseline)
    print_scenario(
        "Ingest worker SIGKILLed at random points", scenario("kill", sigkill_rounds), baseline
    )
    how = "cluster restarted" if RESTART else "backends terminated (pg_terminate_backend)"
    print_scenario(f"PostgreSQL lost: {how}", scenario("pg", postgres_outages), baseline)
    print_scenario(
        "Redis connections killed (CLIENT KILL; no real restart: this Redis has no persistence)",
        scenario("redis", redis_outages),
        baseline,
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        key = load_or_create_key(base / "key.pem")
        counter = iter(range(1000))

        def sqlite_case() -> Subject:
            folder = base / f"sqlite-{next(counter)}"
            folder.mkdir()
            return sqlite_subject(folder, key)

        print_matrix("SQLite", sqlite_case)
        databases: list[Any] = []

        def postgres_case() -> Subject:
            context = throwaway_postgres("claire_bench_tamper")
            databases.append(context)
            folder = base / f"pg-{next(counter)}"
            folder.mkdir()
            return postgres_subject(context.__enter__(), folder, key)

        try:
            print_matrix("PostgreSQL", postgres_case)
        finally:
            for context in databases:
                context.__exit__(None, None, None)


if __name__ == "__main__":
    run()
