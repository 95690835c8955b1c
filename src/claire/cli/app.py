"""The `claire` command line (Typer + Rich). Commands live in one module per area."""

from __future__ import annotations

import inspect
import sys

import typer

from claire.cli import audit
from claire.cli.archive import register as register_archive
from claire.cli.checkpoint import register as register_checkpoint
from claire.cli.common import EXIT_FAILURE, EXIT_USAGE, err_console
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


def _reflow(text: str) -> str:
    """A docstring as help: its paragraphs kept, each one line (Rich wraps it to the terminal;
    the source's own line breaks made ragged lines on an 80-column terminal)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _reflow_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc:
            command.help = _reflow(doc)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _reflow_help(group.typer_instance)


_reflow_help(app)


def main() -> None:
    install_log_redaction()
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        if not _is_click_error(exc):
            raise
        sys.exit(_report_click_error(exc))
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _is_click_error(exc: BaseException) -> bool:
    """Click's own errors (a bad option, a missing argument, an unknown command), whichever
    click module raised them (Typer vendors one): duck-typed, not imported."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "ClickException" in names or "Abort" in names


def _report_click_error(exc: BaseException) -> int:
    """A usage error as the project's one line (`error: ...`, exit 2), not Click's box of
    usage, hint and wrapped message."""
    name = type(exc).__name__
    if name == "Abort":  # end of input at a prompt
        err_console.print("error: aborted", style="bold red", markup=False)
        return EXIT_FAILURE
    code = int(getattr(exc, "exit_code", EXIT_USAGE))
    if name == "NoArgsIsHelpError":  # the help was printed already
        return code
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and getattr(ctx, "command_path", None):
        message += f" (see `{ctx.command_path} --help`)"
    err_console.print(f"error: {message}", style="bold red", markup=False, soft_wrap=True)
    return code
