"""Numbered schema migrations, one folder per database."""

from __future__ import annotations

from importlib import resources


def migrations(dialect: str) -> list[tuple[str, str]]:
    """(file name, SQL text) of every migration for `dialect`, in number order."""
    folder = resources.files("claire.store.sql").joinpath(dialect)
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in files]
