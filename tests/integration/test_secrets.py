"""Secrets never leave the process: every error path we can reach, through the real HTTP server
(uvicorn), the real `claire` entry point and the service's log, grepped for the password and
the tokens.

The paths: the store down, Redis down, a URL libpq cannot parse (libpq quotes it back in its
message), a wrong password (a private PostgreSQL cluster that checks passwords), a bad bearer
token; and the paths that succeed with a password in the URL: `claire record`'s "Store:" line
and its --json "url", `claire db migrate`, the checkpoint files `claire serve` writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from claire.audit.checkpoint import load_or_create_key
from claire.events.codec import canonical_document
from rigs.factories import factory, trade
from rigs.servers import PrivatePostgres, private_postgres
from tests.integration.test_api_service import ROOT, free_port, start_server, stop_server
from tests.integration.test_faults_restarts import _started

PASSWORD = "S3cretPW-" + uuid.uuid4().hex[:8]
WRONG_PASSWORD = "Wr0ngPW-" + uuid.uuid4().hex[:8]
READ_TOKEN = "read-tok-" + uuid.uuid4().hex[:8]
WRITE_TOKEN = "write-tok-" + uuid.uuid4().hex[:8]
BAD_TOKEN = "bad-tok-" + uuid.uuid4().hex[:8]
SECRETS = (PASSWORD, WRONG_PASSWORD, READ_TOKEN, WRITE_TOKEN, BAD_TOKEN)


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        at = text.find(secret)
        assert at < 0, f"{where} leaks a secret: ...{text[max(0, at - 120) : at + 40]}..."


def dead_port_url(scheme: str, password: str, path: str) -> str:
    return f"{scheme}://claire:{password}@127.0.0.1:{free_port()}{path}"


@pytest.fixture(scope="module")
def guarded_postgres() -> Iterator[PrivatePostgres]:
    """A private cluster whose TCP connections need the password (PASSWORD for `postgres`),
    with a migrated database `claire`."""
    for server in _started(private_postgres()):
        server.create_database("claire")
        with psycopg.connect(server.url("claire"), autocommit=True) as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'".encode())
        server.require_passwords()
        yield server


def guarded_url(server: PrivatePostgres, password: str = PASSWORD) -> str:
    return f"postgresql://postgres:{password}@127.0.0.1:{server.port}/claire"


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "CLAIRE_READ_TOKEN": READ_TOKEN,
            "CLAIRE_WRITE_TOKEN": WRITE_TOKEN,
            "CLAIRE_PUBSUB_CHANNEL": "",
            "CLAIRE_INGEST_STREAM": f"claire-test:{uuid.uuid4().hex[:12]}:events",
        }
    )
    env.update(values)
    return env


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, str]:
    done = subprocess.run(  # noqa: PLW1510 - the caller asserts the code
        [sys.executable, "-c", "from claire.cli.app import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd or ROOT,
    )
    return done.returncode, done.stdout + done.stderr


# --- the API and the service's log ------------------------------------------------------------
def exercise_api(url: str) -> list[tuple[str, httpx.Response]]:
    """Every endpoint kind, without a token, with a bad one and with the right ones."""
    body = orjson.dumps([canonical_document(e) for e in trade(factory("secrets"))])
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    calls: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", "/health", {}, None),
        ("GET", "/health", read, None),
        ("GET", "/health", {"Authorization": f"Bearer {BAD_TOKEN}"}, None),
        ("GET", "/health/ready", {}, None),
        ("GET", "/health/ready", read, None),
        ("GET", "/health/live", {}, None),
        ("GET", "/events", read, None),
        ("GET", "/events", {"Authorization": f"Bearer {BAD_TOKEN}"}, None),
        ("GET", "/stats", read, None),
        ("GET", f"/events/{uuid.uuid4()}", read, None),
        ("POST", "/events", {"Authorization": f"Bearer {WRITE_TOKEN}"}, body),
        ("POST", "/events", {"Authorization": f"Bearer {BAD_TOKEN}"}, body),
        ("GET", "/metrics", {}, None),
    ]
    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for method, path, headers, content in calls:
            answers.append(
                (f"{method} {path}", client.request(method, path, headers=headers, content=content))
            )
    return answers


def check_server(env: dict[str, str], log: Path, *, settle_s: float = 2.0) -> dict[str, Any]:
    """Start `claire serve`, let its worker fail for a while, exercise every endpoint; grep
    every answer (body and headers) and the log. Returns /health with and without the token."""
    server = start_server(env, ready=False, log=log)
    try:
        time.sleep(settle_s)  # the ingest worker retries meanwhile, and logs it
        answers = exercise_api(server.url)
    finally:
        stop_server(server)
    for name, answer in answers:
        assert_no_secret(f"{name} ({answer.status_code})", answer.text)
        assert_no_secret(f"{name} headers", str(dict(answer.headers)))
    assert_no_secret("the service's log", log.read_text())
    by_name: dict[str, list[httpx.Response]] = {}
    for name, answer in answers:
        by_name.setdefault(name, []).append(answer)
    return {
        "anonymous": by_name["GET /health"][0],
        "reader": by_name["GET /health"][1],
        "events": by_name["GET /events"][0],
        "post": by_name["POST /events"][0],
        "log": log.read_text(),
    }


def test_store_and_redis_down(tmp_path: Path) -> None:
    env = base_env(
        DATABASE_URL=dead_port_url("postgresql", PASSWORD, "/nodb"),
        REDIS_URL=dead_port_url("redis", PASSWORD, "/0"),
    )
    seen = check_server(env, tmp_path / "serve.log")
    anonymous, reader = seen["anonymous"].json(), seen["reader"].json()
    # Without the read token: statuses only.
    assert seen["anonymous"].status_code == 503
    assert anonymous["store"] == {"status": "down"} and anonymous["redis"] == {"status": "down"}
    assert "detail" not in orjson.dumps(anonymous).decode()
    # With it: the reason, password masked.
    assert (
        "cannot connect to PostgreSQL at postgresql://claire:***@127.0.0.1"
        in (reader["store"]["detail"])
    )
    assert seen["events"].status_code == seen["post"].status_code == 503
    assert "claire:***@" in seen["events"].json()["error"]
    assert "messages stay pending" in seen["log"]  # the worker logged its retries (masked)


def test_urls_libpq_and_redis_cannot_use(tmp_path: Path, redis_base_url: str) -> None:
    """libpq quotes an unparseable URL back in its error; Redis refuses AUTH without a
    password configured (an error the worker does not expect: it is restarted)."""
    redis_port = redis_base_url.split("//", 1)[1].split("/", 1)[0]
    env = base_env(
        DATABASE_URL=f"postgresql://claire:{PASSWORD}@127.0.0.1:5432/x?bogus=1",
        REDIS_URL=f"redis://:{PASSWORD}@{redis_port}/0",
    )
    seen = check_server(env, tmp_path / "serve.log")
    assert seen["anonymous"].status_code == 503
    assert "invalid URI query parameter" in seen["reader"].json()["store"]["detail"]


def test_wrong_password(
    tmp_path: Path, guarded_postgres: PrivatePostgres, redis_base_url: str
) -> None:
    env = base_env(
        DATABASE_URL=guarded_url(guarded_postgres, WRONG_PASSWORD), REDIS_URL=redis_base_url
    )
    seen = check_server(env, tmp_path / "serve.log")
    assert "password authentication failed" in seen["reader"].json()["store"]["detail"]


# --- the CLI ---------------------------------------------------------------------------------
CLI_URLS = {
    "store down": dead_port_url("postgresql", PASSWORD, "/nodb"),
    "bad URL": f"postgresql://claire:{PASSWORD}@127.0.0.1:5432/x?bogus=1",
    "unknown scheme": f"mysql://claire:{PASSWORD}@127.0.0.1/x",
    "key=value form": f"host=127.0.0.1 port={free_port()} user=claire password={PASSWORD}",
    # libpq refuses the space and quotes the password back ("unexpected spaces found in ...").
    "password with a space": f"postgresql://claire:{PASSWORD} x@127.0.0.1:{free_port()}/x",
}
# Each URL with a few commands (a process each costs a second): together every command.
CLI_CASES = [
    ("store down", ["stats", "--json"]),
    ("store down", ["demo", "--json"]),
    ("bad URL", ["verify"]),
    ("bad URL", ["db", "migrate"]),
    ("unknown scheme", ["explain", str(uuid.uuid4())]),
    ("key=value form", ["stats"]),
    ("key=value form", ["record", "--market-data", "missing.csv", "--symbol", "BTCUSDT"]),
    ("password with a space", ["verify"]),
    ("password with a space", ["stats", "--json"]),
]


@pytest.mark.parametrize(("case", "command"), CLI_CASES, ids=[f"{c}: {a[0]}" for c, a in CLI_CASES])
def test_cli_connection_errors(case: str, command: list[str], tmp_path: Path) -> None:
    code, output = run_cli(base_env(), *command, "--database-url", CLI_URLS[case], cwd=tmp_path)
    assert code in (1, 2), output
    assert "Traceback" not in output, output
    assert_no_secret(f"claire {' '.join(command)} ({case})", output)


def test_cli_connection_error_with_the_url_in_the_environment(tmp_path: Path) -> None:
    code, output = run_cli(base_env(DATABASE_URL=CLI_URLS["store down"]), "verify", cwd=tmp_path)
    assert code == 1
    assert "claire:***@127.0.0.1" in output
    assert_no_secret("DATABASE_URL", output)


def test_cli_redis_errors() -> None:
    env = base_env()
    for url, code_wanted in (
        (dead_port_url("redis", PASSWORD, "/0"), 1),
        (f"redis://:{PASSWORD}@[bad/0", 2),  # redis-py cannot parse it: a usage error
        (f"redis://:{PASSWORD} x@[bad/0", 2),
    ):
        code, output = run_cli(env, "dead-letters", "list", "--redis-url", url)
        assert code == code_wanted, output
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
        assert_no_secret("claire dead-letters list", output)


def test_serve_refuses_a_redis_url_it_can_never_use(tmp_path: Path) -> None:
    """Not a worker restarted until it gives up, with a traceback each time: one line, exit 2."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    code, output = run_cli(base_env(), "db", "migrate", "--database-url", url)
    assert code == 0, output
    for redis_url in (f"redis://:{PASSWORD}@[bad/0", "ftp://127.0.0.1/0"):
        env = base_env(REDIS_URL=redis_url, DATABASE_URL=url)
        code, output = run_cli(env, "serve", "--no-api", cwd=tmp_path)
        assert code == 2, output
        assert output.startswith("error: REDIS_URL ") and "Traceback" not in output, output
        assert_no_secret("claire serve", output)


def test_what_succeeds_with_a_password_shows_none(
    tmp_path: Path, guarded_postgres: PrivatePostgres, redis_base_url: str
) -> None:
    """`db migrate`, `record` (text and --json) and the checkpoint files of `claire serve`."""
    url = guarded_url(guarded_postgres)
    env = base_env(DATABASE_URL=url, REDIS_URL=redis_base_url)
    code, output = run_cli(env, "db", "migrate")
    assert code == 0, output
    assert "postgres:***@" in output
    assert_no_secret("claire db migrate", output)
    bars = ["timestamp,open,high,low,close,volume"]
    bars += [f"2025-03-01T00:{m:02d}:00,100,101,99,100,5" for m in range(30)]
    csv = tmp_path / "bars.csv"
    csv.write_text("\n".join(bars) + "\n")
    for extra in ([], ["--json"]):
        code, output = run_cli(
            env, "record", "--market-data", str(csv), "--symbol", f"S{len(extra)}USD",
            "--database-url", url, *extra,
        )  # fmt: skip
        assert code == 0, output
        assert_no_secret(f"claire record {extra}", output)
    assert orjson.loads(output)["url"].startswith("postgresql://postgres:***@127.0.0.1")

    folder = tmp_path / "checkpoints"
    load_or_create_key(tmp_path / "key.pem")
    env.update(
        CLAIRE_CHECKPOINT_DIR=str(folder),
        CLAIRE_CHECKPOINT_INTERVAL="0.2",
        CLAIRE_CHECKPOINT_KEY=str(tmp_path / "key.pem"),
    )
    log = tmp_path / "serve.log"
    server = start_server(env, log=log)
    try:
        deadline = time.monotonic() + 30
        while not list(folder.glob("checkpoint-*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        answers = exercise_api(server.url)
    finally:
        stop_server(server)
    files = list(folder.glob("checkpoint-*.json"))
    assert files
    for path in files:
        assert_no_secret(path.name, path.read_text())
    for name, answer in answers:
        assert_no_secret(name, answer.text)
    assert_no_secret("the service's log", log.read_text())
