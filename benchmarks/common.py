"""Shared benchmark helpers: throwaway databases, timing, and one way to print figures."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

BENCH_PG_URL = os.environ.get(
    "CLAIRE_BENCH_DATABASE_URL",
    os.environ.get("CLAIRE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
BENCH_REDIS_URL = os.environ.get(
    "CLAIRE_BENCH_REDIS_URL", os.environ.get("CLAIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
)
# CLAIRE_BENCH_SCALE=0.1 runs every benchmark on a tenth of the data (a quick look).
SCALE = float(os.environ.get("CLAIRE_BENCH_SCALE", "1"))
# Every figure is the median of this many runs, shown with their min-max.
ROUNDS = 3


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


@contextmanager
def throwaway_postgres(prefix: str = "claire_bench") -> Iterator[str]:
    """A fresh database on the benchmark server, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(BENCH_PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(BENCH_PG_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(BENCH_PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def line(label: str, value: str, note: str = "") -> None:
    """One figure: `label .... value   note` (note: baseline, ratio, target and verdict)."""
    print(f"  {label:<52} {value:>16}  {note}".rstrip(), flush=True)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


@contextmanager
def served(database_url: str) -> Iterator[str]:
    """`claire serve --no-ingest` on a free port over DATABASE_URL; yields its base URL."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(root / "src")}
    for name in ("REDIS_URL", "CLAIRE_READ_TOKEN", "CLAIRE_READ_DATABASE_URL"):
        env.pop(name, None)
    command = "from claire.cli.app import main; main()"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            command,
            "serve",
            "--no-ingest",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("claire serve did not come up")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait()


@dataclass(frozen=True)
class Figure:
    """One figure's runs; shown as the median with the min-max beside it."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def show(self, unit: str, digits: int = 0) -> str:
        def fmt(value: float) -> str:
            return f"{value:,.{digits}f}"

        spread = f"{fmt(min(self.runs))}-{fmt(max(self.runs))}" if len(self.runs) > 1 else "1 run"
        return f"{fmt(self.median)} {unit} ({spread})"

    def ratio(self, baseline: Figure) -> float:
        return self.median / baseline.median


def interleaved(
    subjects: dict[str, Callable[[], float]], rounds: int = ROUNDS
) -> dict[str, Figure]:
    """Run every subject `rounds` times, the order rotated each round (no subject is always
    first or last, where a cold cache or a warm one would favour it); each call returns its
    figure (a rate, a latency)."""
    names = list(subjects)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(subjects[name]())
    return {name: Figure(tuple(values)) for name, values in runs.items()}


def against(subject: Figure, baseline: Figure, target: float, what: str) -> str:
    """`0.42x <what>, target >= 0.4x: MET` from the two medians."""
    ratio = subject.ratio(baseline)
    return f"{ratio:.2f}x {what}, target >= {target}x: {verdict(ratio >= target)}"
