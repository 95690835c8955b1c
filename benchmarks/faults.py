"""Fault rounds and the tamper matrix: does anything get lost, duplicated, or changed unseen?

Scenarios (each on its own database and Redis stream), beside a fault-free baseline run the
same way:
  - the ingest worker SIGKILLed at random (seeded) points while two producers publish;
  - the worker's PostgreSQL backends terminated again and again (pg_terminate_backend);
  - the worker's and producers' Redis connections killed (CLIENT KILL);
  - a private PostgreSQL cluster really restarted (`pg_ctl restart -m fast`) several times
    while the worker stores into it, every fourth time kept down longer than the store's own
    waiting (so the worker's own recovery reopens the store);
  - a private Redis (append-only file, `appendfsync always`) really restarted several times
    while producers publish to it, half the time crashed (SIGKILL) rather than shut down,
    and every other time with the worker frozen so acknowledged events exist in Redis alone;
  - the database switched to `default_transaction_read_only = on` (as after a failover) for a
    few seconds, several times, and INSERT revoked from the worker's role (claire_writer) for
    a few seconds, several times: a passing outage, so nothing may be dead-lettered.
Then the tamper matrix (case -> first bad sequence verify names) on SQLite and PostgreSQL.

Restarts use private servers (rigs/servers.py) on free loopback ports: restarting the
machine's shared servers would disturb everything else running, and its Redis keeps no
persistence, so a restart there would empty the stream by configuration.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

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
from rigs.ingest import (
    Producer,
    Rig,
    make_rig,
    redis_clients_of,
    restart_postgres_rounds,
    restart_redis_rounds,
    stored_count,
    wait_for,
)
from rigs.servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerUnavailableError,
    private_postgres,
    private_redis,
)
from rigs.tamper import (
    Subject,
    postgres_subject,
    run_matrix,
    sqlite_subject,
)


@dataclass
class Servers:
    """Where a scenario's store and stream live; the private servers it may restart."""

    pg_url: str
    redis_url: str
    postgres: PrivatePostgres | None = None
    redis: PrivateRedis | None = None


@dataclass
class Injected:
    """What a scenario did: how many faults, and figures worth printing beside the tally."""

    faults: int
    notes: list[tuple[str, str]] = field(default_factory=list)


Inject = Callable[[Rig, list[Producer], random.Random, Servers], Injected]
ServersFactory = Callable[[], contextlib.AbstractContextManager[Servers]]


@contextmanager
def shared_servers() -> Iterator[Servers]:
    with throwaway_postgres("claire_bench_faults") as pg_url:
        yield Servers(pg_url, BENCH_REDIS_URL)


@contextmanager
def own_postgres() -> Iterator[Servers]:
    """A private cluster (restarted by the scenario) and the shared Redis."""
    with private_postgres() as server:
        yield Servers(server.create_database("claire"), BENCH_REDIS_URL, postgres=server)


@contextmanager
def own_redis() -> Iterator[Servers]:
    """A private Redis (restarted by the scenario) and a throwaway database."""
    with throwaway_postgres("claire_bench_faults") as pg_url, private_redis() as server:
        yield Servers(pg_url, server.url, redis=server)


def tally(rig: Rig, producers: list[Producer], seconds: float) -> dict[str, Any]:
    """Published / stored / duplicated / lost, after the last worker drained the stream."""
    published = {i for p in producers for i in p.acknowledged}
    final = rig.start_worker("drain")
    # On a timeout, report what is there: the figures below then show the loss.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: stored_count(rig.pg_url) >= len(published), timeout=120, what="drain")
    final.send_signal(signal.SIGTERM)
    final.wait(timeout=60)
    with open_store(rig.pg_url, create=True) as store:
        ids = [r.event_id for r in store.iter_records()]
        chain_ok = verify_log(store).ok
    return {
        "published": len(published),
        "stored": len(ids),
        "duplicated": len(ids) - len(set(ids)),
        "lost": len(published - set(ids)),
        "dead_lettered": int(redis.Redis.from_url(rig.redis_url).xlen(f"{rig.stream}:dead")),
        "verifies": chain_ok,
        "publish_errors": sum(len(p.errors) for p in producers),
        "seconds": seconds,
    }


def scenario(name: str, inject: Inject, servers: ServersFactory) -> dict[str, Any]:
    """Run producers and workers with `inject` doing the damage; return the tally."""
    with servers() as where:
        stream = f"claire-bench-faults:{uuid.uuid4().hex[:8]}:events"
        rig = make_rig(where.pg_url, where.redis_url, stream, batch=100)
        producers = [Producer(where.redis_url, stream, f"{name}-{n}", 100_000) for n in range(2)]
        timer = Timer()
        try:
            for producer in producers:
                producer.start()
            injected = inject(rig, producers, random.Random(20250214), where)
            for producer in producers:
                producer.finish.set()
                producer.join(timeout=120)
            result = tally(rig, producers, timer.seconds)
            result["faults"] = injected.faults
            result["notes"] = injected.notes
            return result
        finally:
            for producer in producers:
                producer.finish.set()
            rig.stop_all()
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(where.redis_url).delete(stream, f"{stream}:dead")


def no_faults(rig: Rig, producers: list[Producer], rng: random.Random, _: Servers) -> Injected:
    worker = rig.start_worker("steady")
    wait_for(lambda: stored_count(rig.pg_url) >= scaled(2000), timeout=300, what="baseline")
    worker.send_signal(signal.SIGTERM)
    worker.wait()
    return Injected(0)


def sigkill_rounds(rig: Rig, producers: list[Producer], rng: random.Random, _: Servers) -> Injected:
    rounds = max(10, scaled(40))
    for n in range(rounds):
        worker = rig.start_worker("steady" if n % 2 else f"round-{n}")
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.2))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    return Injected(rounds)


def postgres_backends_terminated(
    rig: Rig, producers: list[Producer], rng: random.Random, _: Servers
) -> Injected:
    worker = rig.start_worker("survivor")
    outages = max(4, scaled(12))
    for _round in range(outages):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, timeout=120, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.05, 0.3))
        with psycopg.connect(rig.pg_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    return Injected(outages, stop_survivor(worker))


def redis_connections_killed(
    rig: Rig, producers: list[Producer], rng: random.Random, _: Servers
) -> Injected:
    worker = rig.start_worker("survivor")
    admin = redis.Redis.from_url(rig.redis_url)
    untyped: Any = admin
    outages = max(4, scaled(12))
    for _round in range(outages):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, timeout=120, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.05, 0.3))
        for pid in (worker.pid, os.getpid()):
            for addr in redis_clients_of(admin, pid):
                try:
                    untyped.client_kill(addr)
                except redis.ResponseError:
                    continue
    return Injected(outages, stop_survivor(worker))


def postgres_restarted(
    rig: Rig, producers: list[Producer], rng: random.Random, servers: Servers
) -> Injected:
    assert servers.postgres is not None
    worker = rig.start_worker("survivor")
    restarts = max(4, scaled(12))
    long_outages = restart_postgres_rounds(rig, servers.postgres, restarts, rng, long_every=4)
    notes = [("of which kept down longer than the store waits", str(long_outages))]
    return Injected(restarts, notes + stop_survivor(worker))


def redis_restarted(
    rig: Rig, producers: list[Producer], rng: random.Random, servers: Servers
) -> Injected:
    assert servers.redis is not None
    worker = rig.start_worker("survivor")
    restarts = max(4, scaled(12))
    backlog = restart_redis_rounds(rig, servers.redis, producers, restarts, rng)
    notes = [
        (
            "of which crashes (SIGKILL) / shutdowns (SIGTERM)",
            f"{restarts // 2} / {restarts - restarts // 2}",
        ),
        ("largest backlog held by Redis alone at a restart", f"{backlog} events"),
    ]
    return Injected(restarts, notes + stop_survivor(worker))


OUTAGE_S = 3.0  # each read-only / revoked spell; the worker's backoff reaches ~1.6 s meanwhile


def _admin(url: str) -> str:
    """The same server's maintenance database (ALTER DATABASE cannot run on the target)."""
    return url.rsplit("/", 1)[0] + "/postgres"


def _spells(rig: Rig, rng: random.Random, begin: list[str], end: list[str], admin: str) -> int:
    spells = max(2, scaled(6))
    for _round in range(spells):
        before = stored_count(rig.pg_url)
        wait_for(lambda: stored_count(rig.pg_url) > before, timeout=120, what="progress")  # noqa: B023
        time.sleep(rng.uniform(0.05, 0.3))
        for statements in (begin, end):
            with psycopg.connect(admin, autocommit=True) as conn:
                for statement in statements:
                    conn.execute(statement.encode())
            if statements is begin:
                time.sleep(OUTAGE_S)
    return spells


def postgres_read_only(
    rig: Rig, producers: list[Producer], rng: random.Random, _: Servers
) -> Injected:
    worker = rig.start_worker("survivor")
    name = rig.pg_url.rsplit("/", 1)[1]
    begin = [
        f'ALTER DATABASE "{name}" SET default_transaction_read_only = on',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    ]
    end = [f'ALTER DATABASE "{name}" RESET default_transaction_read_only']
    spells = _spells(rig, rng, begin, end, _admin(rig.pg_url))
    return Injected(spells, stop_survivor(worker))


def insert_revoked(rig: Rig, producers: list[Producer], rng: random.Random, _: Servers) -> Injected:
    # The worker connects as the writer role (the migration created and granted it).
    rig.env["DATABASE_URL"] = rig.pg_url.replace("://postgres@", "://claire_writer@", 1)
    worker = rig.start_worker("survivor")
    begin = ["REVOKE INSERT ON events FROM claire_writer"]
    end = ["GRANT INSERT ON events TO claire_writer"]
    spells = _spells(rig, rng, begin, end, rig.pg_url)  # this database's table only
    return Injected(spells, stop_survivor(worker))


def stop_survivor(worker: Any) -> list[tuple[str, str]]:
    """SIGTERM the worker that lived through every fault; its exit code says it never died."""
    alive = worker.poll() is None
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=60)
    return [("worker survived every fault (one process)", f"{alive and code == 0}")]


def print_scenario(label: str, result: dict[str, Any], baseline: dict[str, Any]) -> None:
    heading(label)
    line("faults injected", str(result["faults"]))
    for note, value in result["notes"]:
        line(note, value)
    line(
        "events published (acknowledged)",
        str(result["published"]),
        f"baseline {baseline['published']}",
    )
    line("events stored", str(result["stored"]), f"baseline {baseline['stored']}")
    line("duplicated", str(result["duplicated"]), f"target 0: {verdict(result['duplicated'] == 0)}")
    line("lost", str(result["lost"]), f"target 0: {verdict(result['lost'] == 0)}")
    dead = result["dead_lettered"]
    line("dead-lettered", str(dead), f"target 0: {verdict(dead == 0)}")
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
    baseline = scenario("baseline", no_faults, shared_servers)
    print_scenario("Baseline: no faults (one worker, two producers)", baseline, baseline)
    runs: list[tuple[str, str, Inject, ServersFactory]] = [
        ("Ingest worker SIGKILLed at random points", "kill", sigkill_rounds, shared_servers),
        (
            "PostgreSQL connections lost (pg_terminate_backend of the worker's backends)",
            "pg",
            postgres_backends_terminated,
            shared_servers,
        ),
        (
            "Redis connections lost (CLIENT KILL of the worker's and producers' clients)",
            "redis",
            redis_connections_killed,
            shared_servers,
        ),
        (
            "PostgreSQL restarted (private cluster, pg_ctl restart -m fast / stop + start)",
            "pg-restart",
            postgres_restarted,
            own_postgres,
        ),
        (
            "Redis restarted (private, AOF with appendfsync always; SIGTERM or SIGKILL)",
            "redis-restart",
            redis_restarted,
            own_redis,
        ),
        (
            f"PostgreSQL read-only for {OUTAGE_S:.0f} s at a time (default_transaction_read_only)",
            "pg-read-only",
            postgres_read_only,
            shared_servers,
        ),
        (
            f"INSERT revoked from the worker's role for {OUTAGE_S:.0f} s at a time",
            "revoked",
            insert_revoked,
            shared_servers,
        ),
    ]
    for label, name, inject, servers in runs:
        try:
            result = scenario(name, inject, servers)
        except ServerUnavailableError as exc:  # no private server here: say so, go on
            heading(label)
            line("not run", "-", str(exc))
            continue
        print_scenario(label, result, baseline)
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
