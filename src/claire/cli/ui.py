"""`claire ui`: the timeline UI and its API on the embedded store, in one local process."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from claire.cli.common import DatabaseUrl, UsageError, console, fail, handle_errors
from claire.config import load_settings
from claire.errors import ClaireError
from claire.redact import redact_error, redact_url
from claire.store import open_store
from claire.store.facade import default_url


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


@handle_errors
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port (0: any free port; the URL says which)")
    ] = 8004,
    database_url: DatabaseUrl = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Also open the UI in the default browser")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Open the timeline UI on the recorded events: price, decisions, scene, explanations.

    Serves the UI and the read API from this process on the embedded store (the SQLite file
    ./claire_events.db unless --database-url or DATABASE_URL says otherwise). No Redis and no
    ingestion: for the live service with ingestion run `claire serve`, which serves /ui/ too.
    Set CLAIRE_READ_TOKEN to require a token (the page asks for it once per tab).
    """
    if not 0 <= port < 65536:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    url = database_url or default_url()
    sock = _bind(host, port)
    _require_store(url)
    settings = load_settings().model_copy(
        update={"database_url": url, "redis_url": None, "api_host": host, "api_port": port}
    )
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{bound_port}/ui/"
    console.print(f"Claire timeline UI: {address}", markup=False)
    console.print(f"Store: {redact_url(url)}   (Ctrl-C stops)", markup=False)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    import uvicorn

    from claire.api.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            log_level=log_level.lower(),
            timeout_graceful_shutdown=2,  # an open live tail must not hold Ctrl-C up
        )
    )
    if open_browser:
        threading.Thread(target=_open_when_started, args=(server, address), daemon=True).start()
    server.run(sockets=[sock])


def _require_store(url: str) -> None:
    """The UI reads; it never creates a store. Fail at start, not in the page, when there is
    none or it cannot be read, and say how to get one."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_absolute():
            path = Path.cwd() / path
        if not path.exists():
            fail(f"no event store at {path}: record a session first (claire demo)")
    try:
        store = open_store(url)
        try:
            store.head()
        finally:
            store.close()
    except ClaireError as exc:
        fail(f"cannot read the event store: {redact_error(exc)}")


def _bind(host: str, port: int, in_use_hint: str | None = None) -> socket.socket:
    """A listening socket on host:port, or one line and exit 1 (the port in use, say what may
    hold it and what to do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            hint = in_use_hint or (
                f"if `claire serve` runs there, its UI is at http://{host}:{port}/ui/; or pick "
                "another with --port, 0 for any free one"
            )
            fail(f"port {port} on {host} is in use ({hint})")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _open_when_started(server: object, address: str) -> None:
    for _ in range(100):
        if getattr(server, "started", False):
            webbrowser.open(address)
            return
        threading.Event().wait(0.1)
