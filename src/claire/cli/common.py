"""What every command shares: the store option, --json output, and errors without tracebacks."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console

from claire.errors import ClaireError, NotFoundError
from claire.redact import redact_text, register_url_secrets
from claire.store import EventStore, open_store

P = ParamSpec("P")
R = TypeVar("R")

RULE = "=" * 62  # the seed's banner line above and below every report title

EXIT_FAILURE = 1
EXIT_USAGE = 2


def secret_url(url: str | None) -> str | None:
    """An option's connection string, its password registered so that no message (a driver's
    error quoting it back, however malformed the URL) shows it."""
    register_url_secrets(url)
    return url


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        help="Store URL (sqlite:///file.db, postgresql://...). Default: ./claire_events.db",
        show_envvar=True,
        callback=secret_url,
    ),
]
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")
]

# soft_wrap: long lines (ids, commands to copy) must never be broken when output is piped.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


class UsageError(ClaireError):
    """The command line itself is wrong (exit code 2)."""


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    # Redacted: a driver's message may quote the connection string, password and all.
    err_console.print(
        f"error: {redact_text(message)}", style="bold red", markup=False, soft_wrap=True
    )
    raise typer.Exit(code)


def store_from(url: str | None, *, create: bool = False) -> EventStore:
    """The store a command works on. Read commands open an existing store only (a missing or
    foreign database, or another schema, is one line and exit 1); commands that record pass
    `create=True` (see `open_store`)."""
    return open_store(url, create=create)


def print_json(document: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Claire's errors into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            fail(str(exc), EXIT_USAGE)
        except NotFoundError as exc:
            fail(str(exc), EXIT_FAILURE)
        except ClaireError as exc:
            fail(str(exc), EXIT_FAILURE)

    return wrapper
