"""The `claire` command line (Typer + Rich). Commands live in one module per area."""

from __future__ import annotations

import typer

from claire.cli import audit
from claire.cli.archive import register as register_archive
from claire.cli.checkpoint import register as register_checkpoint
from claire.cli.db import db_app
from claire.cli.demo import register as register_demo
from claire.cli.replay import register as register_replay
from claire.cli.schema import register as register_schema
from claire.cli.serve import register as register_serve
from claire.cli.sql import register as register_sql
from claire.cli.timeline import register as register_timeline
from claire.cli.ui import register as register_ui
from claire.cli.versions import register as register_versions
from claire.redact import install_log_redaction

app = typer.Typer(
    name="claire",
    help=(
        "Claire event store: record, replay, explain and verify every step of a trading bot.\n\n"
        "Start with `claire demo`, then follow the commands it prints."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
audit.register(app)
register_checkpoint(app)
register_archive(app)
register_sql(app)
register_schema(app)
register_replay(app)
register_timeline(app)
register_versions(app)
register_serve(app)
register_ui(app)
register_demo(app)


def main() -> None:
    install_log_redaction()
    app()
