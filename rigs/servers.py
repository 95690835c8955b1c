"""Private PostgreSQL and Redis servers, owned by one test (or benchmark), restarted at will.

The shared servers of the machine serve every other test at the same moment, so a test that
restarts a server starts its own: on a free loopback port, with its files in a temporary
directory that is removed afterwards.

- Redis runs with the append-only file fsynced on every write (`--appendfsync always`), so an
  XADD Redis acknowledged survives a restart, as the deployment's Redis must be configured.
- PostgreSQL is a fresh cluster (initdb, trust auth for the `postgres` role). initdb refuses to
  run as root, so as root every PostgreSQL binary runs as the `postgres` OS user.

`ServerUnavailableError` means a server could not be started here (binary or OS user missing);
the tests turn it into a skip, or a failure under CLAIRE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

POSTGRES_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT_S = 30.0


class ServerUnavailableError(RuntimeError):
    """A private server cannot be started on this machine (the message says why)."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(ready: Callable[[], bool], what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise ServerUnavailableError(f"{what} did not become ready: {tail}")
        time.sleep(0.02)


# --- Redis -------------------------------------------------------------------------------------
@dataclass
class PrivateRedis:
    """A redis-server process with AOF persistence; `restart` keeps its port and its data."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailableError("redis-server is not installed")
        options = {
            "--port": str(self.port),
            "--bind": "127.0.0.1",
            "--dir": str(self.directory),
            # Every write fsynced to the append-only file before Redis acknowledges it.
            "--appendonly": "yes",
            "--appendfsync": "always",
            "--save": "",  # no RDB snapshots: the append-only file alone is the durability
            "--logfile": str(self.log),
        }
        self.process = subprocess.Popen(
            [binary, *(word for pair in options.items() for word in pair)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(self._answers, f"redis-server on port {self.port}", self.log)

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            code = self.process.returncode
            raise ServerUnavailableError(f"redis-server exited with {code}: {tail}")
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())  # raises BusyLoadingError while it reads the AOF
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (AOF flushed); SIGKILL: a crash (AOF as fsynced)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=START_TIMEOUT_S)
        self.process = None

    def restart(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="claire-redis-") as tmp:
        server = PrivateRedis(Path(tmp))
        try:
            server.start()
            yield server
        finally:
            server.stop(signal.SIGKILL)


# --- PostgreSQL --------------------------------------------------------------------------------
def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian layout)."""
    versions = sorted(
        (p for p in POSTGRES_ROOT.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    if not versions:
        raise ServerUnavailableError(f"no PostgreSQL with initdb under {POSTGRES_ROOT}")
    return versions[-1] / "bin"


def _as_postgres_user() -> list[str]:
    """The command prefix that runs a PostgreSQL binary as a non-root user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailableError("running as root and there is no `postgres` OS user") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerUnavailableError("running as root and `runuser` is not installed")
    return [runuser, "-u", "postgres", "--"]


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of its own; `restart` is `pg_ctl restart -m fast` (same port)."""

    directory: Path
    bin: Path
    prefix: list[str]
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise ServerUnavailableError(
                f"{Path(args[0]).name} {args[1:]} failed ({done.returncode}): "
                f"{done.stderr[-2000:] or done.stdout[-2000:]}"
            )

    def initdb(self) -> None:
        # --no-sync: the cluster is thrown away with the test; the server itself keeps fsync on.
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", str(int(START_TIMEOUT_S)), "-o", options, *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every session and transaction aborted), then start again."""
        self._ctl("restart", "-m", "fast")

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` (the default, for teardown) is a crash; `fast` a clean shutdown."""
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", mode)

    def require_passwords(self) -> None:
        """From now on TCP connections need a password (scram-sha-256); connections over the
        cluster's Unix socket stay trusted. Call it after setting the roles' passwords."""
        hba = self.data / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        hba.write_text(
            "\n".join(
                line.replace("trust", "scram-sha-256") if line.startswith("host") else line
                for line in lines
            )
            + "\n"
        )
        with psycopg.connect(f"host={self.directory} port={self.port} user=postgres") as conn:
            conn.execute("SELECT pg_reload_conf()")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    prefix = _as_postgres_user()
    with tempfile.TemporaryDirectory(prefix="claire-pg-") as tmp:
        directory = Path(tmp)
        if prefix:  # the postgres user must own the cluster's directory
            shutil.chown(directory, user="postgres", group=None)
        server = PrivatePostgres(directory, bin_dir, prefix)
        server.initdb()
        try:
            server.start()
            yield server
        finally:
            server.stop()
