"""`claire db migrate`: apply the schema migrations (idempotent)."""

from __future__ import annotations

import typer

from claire.cli.common import DatabaseUrl, JsonFlag, console, handle_errors, print_json, store_from
from claire.redact import redact_url

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@db_app.command("migrate")
@handle_errors
def migrate(database_url: DatabaseUrl = None, json: JsonFlag = False) -> None:
    """Create or upgrade the event store schema. Safe to run again.

    Creates a store only where there is none (a file that does not exist, an empty database)
    and upgrades a Claire store; another application's database is refused, untouched.

    Example: claire db migrate --database-url postgresql://postgres@127.0.0.1/claire
    """
    with store_from(database_url, create=True) as store:
        applied = store.migrate()
        url = redact_url(store.url)
    if json:
        print_json({"url": url, "migrations": applied})
    else:
        console.print(f"Schema is up to date at {url} ({len(applied)} migration files).")
