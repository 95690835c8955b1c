"""Shared fixtures: throwaway PostgreSQL databases and Redis key spaces, made and removed per test.

Tests that need a service skip with a message naming it, unless CLAIRE_REQUIRE_SERVICES=1
(as CI sets), in which case they fail.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
UI_ARTIFACTS = "CLAIRE_UI_ARTIFACTS"


def pytest_configure() -> None:
    """Choose the browser tests' screenshot folder before the test workers start, so that all
    of them save into one folder and the summary below (printed by the main process) names it."""
    if UI_ARTIFACTS not in os.environ:
        name = f"claire-ui-screenshots-{uuid.uuid4().hex[:12]}"
        os.environ[UI_ARTIFACTS] = str(Path(tempfile.gettempdir()) / name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    folder = Path(os.environ[UI_ARTIFACTS])
    if folder.is_dir() and any(folder.iterdir()) and not os.environ.get("PYTEST_XDIST_WORKER"):
        terminalreporter.write_line(f"UI screenshots (browser tests): {folder}")


def _missing(service: str, variable: str, reason: str) -> None:
    message = (
        f"{service} is not reachable ({reason}); start it or point the tests at one with "
        f"{variable}=..."
    )
    if os.environ.get("CLAIRE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"CLAIRE_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("CLAIRE_TEST_DATABASE_URL", PG_DEFAULT)
    try:
        import psycopg
    except ImportError:
        _missing("PostgreSQL", "CLAIRE_TEST_DATABASE_URL", "psycopg is not installed")
        raise
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _missing("PostgreSQL", "CLAIRE_TEST_DATABASE_URL", str(exc).strip().splitlines()[0])
    return url


@contextmanager
def throwaway_database(admin_url: str, tag: str = "test") -> Iterator[str]:
    """A fresh, empty database on the test server (URL yielded); dropped afterwards."""
    import psycopg

    name = f"claire_{tag}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    with throwaway_database(pg_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file that does not exist yet, then a throwaway database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    url = os.environ.get("CLAIRE_TEST_REDIS_URL", REDIS_DEFAULT)
    try:
        import redis
    except ImportError:
        _missing("Redis", "CLAIRE_TEST_REDIS_URL", "redis-py is not installed")
        raise
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _missing("Redis", "CLAIRE_TEST_REDIS_URL", str(exc))
    return url


@pytest.fixture
def redis_prefix(redis_base_url: str) -> Iterator[str]:
    """A key prefix owned by one test; every key under it is deleted afterwards."""
    import redis

    prefix = f"claire-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_base_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def private_key_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Signing keys and the checkpoint witness live in a session directory, never in the real
    ~/.config and ~/.local/state (commands such as `claire export` create a key on first use);
    subprocesses inherit it. A test that needs its own sets them again."""
    base = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(base / "config"))
        patch.setenv("XDG_STATE_HOME", str(base / "state"))
        for name in (
            "CLAIRE_CHECKPOINT_KEY",
            "CLAIRE_CHECKPOINT_PUBLIC_KEY",
            "CLAIRE_CHECKPOINT_WITNESS",
        ):
            patch.delenv(name, raising=False)
        yield
