"""Give the login roles the migrations create (claire_writer, claire_reader) their passwords.

Run once by the compose stack's cdb_migrate, as the administrator (DATABASE_URL), after
`claire db migrate`. Each password comes from an environment variable, or from the file a
`<VARIABLE>_FILE` variable names (Docker secrets). Never prints a password.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from claire.redact import redact_text

ROLES = {"claire_writer": "CLAIRE_WRITER_PASSWORD", "claire_reader": "CLAIRE_READER_PASSWORD"}


def password(variable: str) -> str:
    value = os.environ.get(variable, "")
    file = os.environ.get(f"{variable}_FILE")
    if not value and file:
        value = Path(file).read_text().strip()
    if not value:
        sys.exit(f"error: {variable} (or {variable}_FILE) is not set; see deploy/.env.example")
    return value


def main() -> None:
    passwords = {role: password(variable) for role, variable in ROLES.items()}
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            for role, secret in passwords.items():
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(secret)
                    )
                )
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = redact_text(message, passwords.values())
        sys.exit(f"error: setting the role passwords failed: {message}")
    print(f"passwords set for {', '.join(ROLES)}")


if __name__ == "__main__":
    main()
