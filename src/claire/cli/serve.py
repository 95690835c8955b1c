"""`claire serve` (the Event Store Service: API and ingest worker) and `claire dead-letters`."""

from __future__ import annotations

import ipaddress
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    err_console,
    fail,
    handle_errors,
    print_json,
    secret_url,
    store_from,
)
from claire.config import Settings, load_settings, secret
from claire.errors import StoreError, StoreSchemaError
from claire.redact import redact_error, redact_url
from claire.store.facade import default_url, open_store
from claire.store.skew import max_future_skew_from_env
from claire.supervision import HealthBoard, Runnable, Supervisor, TaskHealth

if TYPE_CHECKING:
    import redis

RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="REDIS_URL",
        help="redis://host:port/db",
        show_envvar=True,
        callback=secret_url,
    ),
]
Stream = Annotated[
    str | None,
    typer.Option(
        "--stream",
        envvar="CLAIRE_INGEST_STREAM",
        help="Ingest stream (default claire:events; dead letters in <stream>:dead)",
    ),
]
STREAM_ID = re.compile(r"^\d+-\d+$")
# After giving up, wait this long for the tasks to stop before exiting anyway.
HUNG_JOIN_S = 30.0

dead_letters_app = typer.Typer(
    help="Messages the ingest worker could not store, kept with the reason.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(dead_letters_app, name="dead-letters")


@handle_errors
def serve(  # noqa: PLR0917 - Typer options
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="Serve the API only.")] = False,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run the ingest worker only.")] = False,
    host: Annotated[
        str | None, typer.Option("--host", envvar="CLAIRE_API_HOST", help="Default 127.0.0.1")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", envvar="CLAIRE_API_PORT", help="Default 8004")
    ] = None,
    database_url: DatabaseUrl = None,
    redis_url: RedisUrl = None,
    allow_public_reads: Annotated[
        bool,
        typer.Option(
            "--allow-public-reads",
            envvar="CLAIRE_ALLOW_PUBLIC_READS",
            help="Serve reads without a read token on a non-loopback address (refused otherwise).",
        ),
    ] = False,
    max_restarts: Annotated[
        int,
        typer.Option(
            "--max-restarts",
            envvar="CLAIRE_MAX_RESTARTS",
            min=0,
            help="Restart a dead ingest worker or checkpoint timer this often in a row, "
            "then exit 1 (for the supervisor outside to restart the process).",
        ),
    ] = 5,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the Event Store Service: the HTTP API (port 8004) and the Redis ingest worker.

    Configuration comes from the environment (DATABASE_URL, REDIS_URL, CLAIRE_API_PORT,
    CLAIRE_WRITE_TOKEN, CLAIRE_READ_TOKEN, CLAIRE_INGEST_STREAM, ...). Run `claire db migrate`
    first: the service never creates or migrates a store and refuses to start without one.
    SIGTERM or Ctrl-C stops it gracefully: the batch in hand is stored and acknowledged.
    A background task that keeps dying ends the process with exit code 1.
    """
    if no_api and no_ingest:
        raise UsageError("--no-api and --no-ingest together leave nothing to run")
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(host, port, database_url, redis_url)
    if not no_api:
        _refuse_public_reads(settings, allow_public_reads)
    _refuse_unusable_stores(settings)
    ingest = not no_ingest
    if ingest and not settings.redis_url:
        if no_api:
            raise UsageError("ingestion needs Redis: set REDIS_URL or pass --redis-url")
        err_console.print("note: REDIS_URL is not set, so this serves the API without ingestion")
        ingest = False
    if ingest:
        _refuse_unparseable_redis_url(settings.redis_url)
    board = HealthBoard()
    tasks = _ingest_tasks(settings, board) if ingest else []
    tasks += _checkpoint_tasks(settings, board)
    # The API's port is taken before any background task starts: a port in use is one line
    # and exit 1 (uvicorn would log the error after start-up and exit 3).
    sock = None if no_api else _listen(settings)
    service = _Service(tasks, board, max_restarts)
    with service.running():
        if sock is None:
            service.wait()
        else:
            service.serve_api(settings, log_level.lower(), sock)
    if service.gave_up:
        fail(f"stopping: {service.gave_up}")


def _settings(
    host: str | None, port: int | None, database_url: str | None, redis_url: str | None
) -> Settings:
    settings = load_settings()
    updates: dict[str, object] = {"database_url": database_url or settings.database_url}
    if updates["database_url"] is None:
        updates["database_url"] = default_url()
    if host:
        updates["api_host"] = host
    if port is not None:
        if not 0 < port < 65536:
            raise UsageError(f"--port must be between 1 and 65535, got {port}")
        updates["api_port"] = port
    if redis_url:
        updates["redis_url"] = redis_url
    return settings.model_copy(update=updates).register_secrets()


def _refuse_unusable_stores(settings: Settings) -> None:
    """The service never creates or migrates a store: a database that is not a Claire store of
    this version (missing, empty, foreign, older or newer schema) stops it here, with the
    reason. Any other failure does not (the database may be down or its URL wrong for now):
    readiness and the 503s say why, and ingestion waits meanwhile."""
    max_future_skew_from_env()  # a wrong CLAIRE_MAX_FUTURE_SKEW stops it here too
    for url in dict.fromkeys(u for u in (settings.database_url, settings.read_database_url) if u):
        try:
            open_store(url).close()
        except StoreSchemaError:
            raise
        except StoreError as exc:
            logging.getLogger("claire.serve").warning(
                "starting without the store: %s", redact_error(exc)
            )


def _listen(settings: Settings) -> socket.socket:
    from claire.cli.ui import _bind

    return _bind(
        settings.api_host,
        settings.api_port,
        "another `claire serve` or `claire ui`? pick another with --port or CLAIRE_API_PORT",
    )


def _refuse_unparseable_redis_url(url: str | None) -> None:
    """A Redis URL that can never work (a bad scheme, an unclosed '[') stops the service here,
    with the reason, instead of a worker restarted until it gives up."""
    try:
        from redis.connection import parse_url
    except ImportError:  # the redis extra is missing: the worker says so
        return
    try:
        parse_url(url or "")
    except ValueError as exc:
        raise UsageError(f"REDIS_URL {redact_url(url)}: {redact_error(exc)}") from None


def _refuse_public_reads(settings: Settings, allowed: bool) -> None:
    """Fail closed: an API reachable from other machines needs a read token, or a decision."""
    if allowed or secret(settings.read_token) or _is_loopback(settings.api_host):
        return
    raise UsageError(
        f"refusing to serve reads on {settings.api_host} without a read token: anyone who "
        "can reach that address could read every event. Set CLAIRE_READ_TOKEN, bind to "
        "127.0.0.1, or pass --allow-public-reads (CLAIRE_ALLOW_PUBLIC_READS=1) to allow it."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: may resolve to anything
        return False


@dataclass
class _Task:
    """A background task: its name, how to make a fresh one, whether it reports its health."""

    name: str
    make: Callable[[], Runnable]
    health: TaskHealth
    self_reporting: bool = False


def _ingest_tasks(settings: Settings, board: HealthBoard) -> list[_Task]:
    from claire.ingest.pubsub import PubSubListener
    from claire.ingest.streams import IngestConfig
    from claire.ingest.worker import ClosingWorker, IngestWorker

    redis_url, database_url = settings.redis_url, settings.database_url
    assert redis_url is not None and database_url is not None
    config = IngestConfig.from_settings(settings)
    worker_health = board.register("ingest", settings.ingest_stuck_s)

    def worker() -> Runnable:
        return ClosingWorker(IngestWorker(database_url, redis_url, config, health=worker_health))

    tasks = [_Task("ingest", worker, worker_health, self_reporting=True)]
    if settings.pubsub_channel:
        channel = settings.pubsub_channel
        tasks.append(
            _Task(
                "pubsub",
                lambda: PubSubListener(redis_url, channel, config.stream),
                board.register("pubsub", float("inf")),
            )
        )
    return tasks


def _checkpoint_tasks(settings: Settings, board: HealthBoard) -> list[_Task]:
    """A signed checkpoint every CLAIRE_CHECKPOINT_INTERVAL seconds into CLAIRE_CHECKPOINT_DIR."""
    if not settings.checkpoint_dir:
        return []
    from claire.audit.checkpoint import CheckpointTimer, load_or_create_key

    key = load_or_create_key()  # fail at start-up, not at the first tick, when the key is bad
    url, directory = settings.database_url, Path(settings.checkpoint_dir)
    interval = settings.checkpoint_interval_s

    def timer() -> Runnable:
        return CheckpointTimer(store_from(url), directory, interval, key=key)

    store_from(url).close()  # fail at start-up when the store cannot be opened
    return [_Task("checkpoints", timer, board.register("checkpoints", float("inf")))]


class _Service:
    """The background tasks, each under a Supervisor on its own thread, and the API.

    When a supervisor gives up, everything stops gracefully and `gave_up` says why (the
    command then exits 1)."""

    def __init__(self, tasks: list[_Task], board: HealthBoard, max_restarts: int) -> None:
        self.board = board
        self.gave_up: str | None = None
        self._stopped = threading.Event()
        self._server: Any = None
        self.supervisors = [
            Supervisor(
                t.make,
                t.health,
                give_up=self._give_up,
                max_restarts=max_restarts,
                self_reporting=t.self_reporting,
            )
            for t in tasks
        ]

    def _give_up(self, message: str) -> None:
        self.gave_up = self.gave_up or message
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.should_exit = True
        for supervisor in self.supervisors:
            supervisor.stop()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Run each supervisor in a thread; on the way out stop each and wait (graceful)."""
        _on_signal(self.stop)
        # Daemon threads: a hung task (the supervisor gave up on it) must not keep the
        # process alive after it decided to exit.
        threads = [
            threading.Thread(target=s.run, name=f"supervisor-{s.health.name}", daemon=True)
            for s in self.supervisors
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop()
            for thread in threads:
                thread.join(timeout=HUNG_JOIN_S if self.gave_up else None)

    def wait(self) -> None:
        while not self._stopped.wait(0.5):
            pass

    def serve_api(self, settings: Settings, log_level: str, sock: socket.socket) -> None:
        import uvicorn

        from claire.api.app import create_app

        # uvicorn handles SIGTERM/SIGINT while it runs and re-raises them to our handler after
        # shutdown, which then stops the background tasks. An open SSE tail must not hold it up.
        config = uvicorn.Config(
            create_app(settings, health_board=self.board),
            host=settings.api_host,
            port=settings.api_port,
            log_level=log_level,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        if self._stopped.is_set():  # a task gave up before the API started
            return
        self._server.run(sockets=[sock])


def _on_signal(action: Callable[[], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("claire.serve").info("signal %d: stopping gracefully", signum)
        action()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# --- dead letters ----------------------------------------------------------------------------
@contextmanager
def _redis(
    redis_url: str | None, stream: str | None
) -> Iterator[tuple[redis.Redis[bytes], str, str]]:
    import redis as redis_module

    from claire.ingest.streams import IngestConfig

    settings = load_settings()
    url = redis_url or settings.redis_url
    if not url:
        raise UsageError("dead letters live in Redis: set REDIS_URL or pass --redis-url")
    config = IngestConfig.from_settings(settings, **({"stream": stream} if stream else {}))
    try:
        client = redis_module.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    except ValueError as exc:  # redis-py cannot parse it (a bad scheme, an unclosed '[')
        raise UsageError(f"--redis-url {redact_url(url)}: {redact_error(exc)}") from None
    try:
        yield client, config.stream, config.dead_stream
    except redis_module.RedisError as exc:
        fail(f"Redis at {redact_url(url)}: {redact_error(exc)}")
    finally:
        client.close()


@dead_letters_app.command("list")
@handle_errors
def list_command(
    redis_url: RedisUrl = None,
    stream: Stream = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 100,
    json: JsonFlag = False,
) -> None:
    """Show dead letters, oldest first, with the reason each could not be stored."""
    from claire.ingest.deadletters import count_dead_letters, list_dead_letters

    with _redis(redis_url, stream) as (client, _, dead_stream):
        letters = list_dead_letters(client, dead_stream, count=limit)
        total = count_dead_letters(client, dead_stream)
    if json:
        print_json(
            {
                "stream": dead_stream,
                "total": total,
                "dead_letters": [d.to_document() for d in letters],
            }
        )
        return
    console.print(f"{total} dead letter(s) in {dead_stream}", markup=False)
    for letter in letters:
        console.print(f"{letter.id}  (from {letter.source_id})  {letter.reason}", markup=False)


@dead_letters_app.command("retry")
@handle_errors
def retry_command(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids (see `list`)")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead letter")] = False,
    redis_url: RedisUrl = None,
    stream: Stream = None,
    json: JsonFlag = False,
) -> None:
    """Put dead letters back on the ingest stream (after fixing their cause, e.g. storing a
    missing cause event). A letter that fails again comes back with its new reason."""
    from claire.ingest.deadletters import retry_dead_letters

    if not ids and not retry_all:
        raise UsageError("name dead-letter ids to retry, or pass --all")
    if ids and retry_all:
        raise UsageError("pass either ids or --all, not both")
    for entry_id in ids or []:
        if not STREAM_ID.match(entry_id):
            raise UsageError(f"{entry_id!r} is not a stream id (like 1700000000000-0)")
    with _redis(redis_url, stream) as (client, main_stream, dead_stream):
        moved = retry_dead_letters(client, dead_stream, main_stream, ids)
    if json:
        print_json({"stream": main_stream, "retried": [{"id": d, "new_id": n} for d, n in moved]})
        return
    console.print(f"{len(moved)} dead letter(s) put back on {main_stream}", markup=False)
