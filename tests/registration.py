"""Registering pipelines in the `claire.pipelines` entry point group without installing anything:
a test-only distribution (a `.dist-info` directory) that `importlib.metadata` finds on the path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DISTRIBUTION = "claire_test_pipelines"


def write_registrations(directory: Path, entries: Mapping[str, str]) -> Path:
    """A distribution in `directory` registering `name = module:attribute` for each entry.

    Put `directory` on sys.path (or PYTHONPATH for a subprocess) to make them visible.
    """
    info = directory / f"{DISTRIBUTION}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text(
        "[claire.pipelines]\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    return directory
