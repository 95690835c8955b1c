"""Schema versions, shared by the SQLite and PostgreSQL adapters.

A store records each applied migration (file name and SHA-256 of its text) in the table
`claire_schema_migrations`. Opening a store only compares that table with the migrations this
code knows; `migrate` (the `create=True` open, `claire db migrate`) applies the missing ones,
and only to a database that is empty or already a Claire store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from claire.errors import StoreSchemaError
from claire.store.sql import migrations

MIGRATIONS_TABLE = "claire_schema_migrations"
CREATE_HINT = "create one with `claire db migrate` (or record into it with `claire demo`)"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def known_migrations(dialect: str) -> list[Migration]:
    return [Migration(name, sql) for name, sql in migrations(dialect)]


def check_schema(
    where: str, applied: Mapping[str, str], known: Iterable[Migration], *, migrating: bool = False
) -> list[Migration]:
    """The known migrations the store lacks (applied: name -> checksum). Raises
    StoreSchemaError for a store newer than this code or with an edited migration, and, unless
    `migrating`, for a store that lacks any."""
    known = list(known)
    names = {m.name for m in known}
    unknown = sorted(set(applied) - names)
    if unknown:
        raise StoreSchemaError(
            f"{where} has a newer schema than this version of Claire (migration "
            f"{', '.join(unknown)} is unknown here): upgrade Claire to use it"
        )
    changed = [m.name for m in known if m.name in applied and applied[m.name] != m.checksum]
    if changed:
        raise StoreSchemaError(
            f"{where}: migration {changed[0]} changed after it was applied; add a new "
            "numbered migration instead of editing an applied one"
        )
    missing = [m for m in known if m.name not in applied]
    if missing and not migrating:
        raise StoreSchemaError(
            f"{where} has an older schema (without {', '.join(m.name for m in missing)}): "
            "upgrade it with `claire db migrate`"
        )
    return missing


def not_a_store(where: str, tables: list[str]) -> StoreSchemaError:
    """The error for a database without Claire's migrations table."""
    if not tables:
        return StoreSchemaError(f"{where} is empty, not a Claire store: {CREATE_HINT}")
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return StoreSchemaError(
        f"{where} is not a Claire store (it holds {shown} and no {MIGRATIONS_TABLE}); "
        "Claire will not add tables to another application's database: use an empty one"
    )
