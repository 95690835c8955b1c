"""Bad input on the command line, as a new user types it: every mistake is one line on stderr
(`error: ...` naming the option or argument and the reason), a non-zero exit code, no traceback
and no password, whether Claire or Click (a bad option value, an unknown command) finds it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from claire.store import open_store
from rigs.factories import trade

CLAIRE = str(Path(sys.executable).with_name("claire"))
PASSWORD = "Sp4ce-PW-qa"
UNKNOWN = "00000000-0000-0000-0000-000000000000"

# (arguments, exit code, what the line must say)
CASES = [
    (["nope"], 2, "No such command 'nope'"),
    (["export", "--nope"], 2, "No such option: --nope"),
    (["export", "--format", "xml", "--sequence", "1", "2"], 2, "'--format'"),
    (["replay", "--sequence", "1"], 2, "'--sequence' requires 2 arguments"),
    (["replay", "--sequence", "5", "1"], 2, "--sequence: empty range, A (5) is greater than B (1)"),
    (["replay", "--sequence", "0", "3"], 2, "--sequence: sequence numbers start at 1, got 0"),
    (["validate", "--sequence", "1", "x"], 2, "'--sequence': Input should be a valid integer"),
    (["validate", "--sequence", "100", "200"], 1, "no events from sequence 100"),
    (["scene", "--sequence", "0"], 2, "'--sequence': Input should be greater than or equal to 1"),
    (["scene", "--at", "tomorrow"], 2, "--at: 'tomorrow' is not a date or time"),
    (["scene", "--at", "2025-02-15", "--symbol", "NOPE"], 1, "unknown symbol 'NOPE'"),
    (["explain", "not-a-uuid"], 2, "EVENT_ID: 'not-a-uuid' is not a UUID"),
    (["explain", UNKNOWN], 1, f"no event with id {UNKNOWN}"),
    (["trace", UNKNOWN], 1, f"no events with correlation id {UNKNOWN}"),
    (["stats", "--since", "garbage"], 2, "--since: 'garbage' is not a date or time"),
    (["replay", "--set", "risk.nope=1"], 2, "unknown configuration path 'risk.nope'"),
    (["replay", "--set", "garbage"], 2, "--set: override 'garbage': expected path=value"),
    (["validate", "--pipeline", "nope:thing"], 2, "--pipeline 'nope:thing': cannot import"),
    (["verify", "--export", "missing.jsonl", "--public-key", "0" * 64], 1, "missing.jsonl"),
    (["verify", "--public-key", "/nonexistent.pem", "--checkpoints", "."], 1, "--public-key"),
    (["checkpoint", "--dir", "/proc/claire-qa"], 2, "--dir /proc/claire-qa: "),
    (["record", "--market-data", "missing.csv", "--symbol", "X"], 1, "missing.csv"),
    (["record", "--market-data", "x.csv", "--symbol", ""], 2, "--symbol '': String should have"),
    (["record", "--market-data", "x.csv", "--symbol", "BTC USD"], 2, "--symbol 'BTC USD': "),
    (["sql", "SELEC 1"], 1, 'sql: Parser Error: syntax error at or near "SELEC"'),
    (["serve", "--port", "abc"], 2, "'--port'"),
    (["stats", "--database-url", f"postgresql://u:{PASSWORD} x@[::1/db"], 1, "postgresql://u:***@"),
    (["stats", "--database-url", f"mysql://u:{PASSWORD}@h/db"], 1, "unsupported store URL"),
    (["stats", "--database-url", "sqlite:///missing/x.db"], 1, "no Claire store at missing/x.db"),
    (["dead-letters", "list", "--redis-url", f"redis://:{PASSWORD}@[bad/0"], 2, "--redis-url"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-errors")
    with open_store(f"sqlite:///{base / 'claire_events.db'}", create=True) as store:
        store.append(trade())
    return base


@pytest.mark.parametrize(("args", "code", "says"), CASES, ids=[" ".join(c[0])[:50] for c in CASES])
def test_one_clear_line(workdir: Path, args: list[str], code: int, says: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    env |= {"XDG_CONFIG_HOME": str(workdir / "config"), "XDG_STATE_HOME": str(workdir / "state")}
    done = subprocess.run(
        [CLAIRE, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in done.stderr and PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "selection",
    [["--correlation", UNKNOWN], ["--from", "2030-01-01", "--to", "2030-01-02"]],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_of_nothing_leaves_no_file(
    workdir: Path, tmp_path: Path, selection: list[str], fmt: str
) -> None:
    output = tmp_path / f"out.{fmt}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = subprocess.run(
        [CLAIRE, "export", *selection, "--format", fmt, "-o", str(output)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: no events in ") and "Traceback" not in done.stderr
    assert "(the log holds sequence 1 → 5)" in done.stderr
    assert not output.exists() and not list(tmp_path.glob("out.*"))
    assert not (tmp_path / "config").exists()  # nor a new signing key


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    """Not `Checked: 0 events (sequence 1 → 0)`, nor a Merkle tree over 'no event (all sealed)'
    where nothing was ever sealed."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DATABASE_URL": url}

    def run(*args: str) -> str:
        done = subprocess.run(
            [CLAIRE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("db", "migrate")
    assert "Checked: 0 events (the log is empty)" in run("verify")
    assert "over no event (the log is empty)" in run("checkpoint", "--dir", str(tmp_path / "cp"))


def test_serve_on_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """Was uvicorn's log of the bind error after start-up, and exit code 3."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(trade())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("REDIS_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [CLAIRE, "serve", "--no-ingest", "--port", port],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"error: port {port} on 127.0.0.1 is in use (another `claire serve` or `claire ui`? "
        "pick another with --port or CLAIRE_API_PORT)\n"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "the file is empty"),
        ("timestamp,open,high,low,close,volume\n", "no data rows after the header"),
        ("timestamp,open,high,low,close,volume\n2025-03-01,1,2,0.5,1,abc\n", "is not a number"),
    ],
)
def test_record_of_a_bad_file_creates_no_store(tmp_path: Path, content: str, says: str) -> None:
    """The file is read and checked before the store (and its lock file) is created."""
    (tmp_path / "bars.csv").write_text(content, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    done = subprocess.run(
        [CLAIRE, "record", "--market-data", "bars.csv", "--symbol", "BTCUSDT"],
        cwd=tmp_path,
        env=env | {"XDG_CONFIG_HOME": str(tmp_path / "config")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv"]
