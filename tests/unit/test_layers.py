"""The layers import in one direction: `state` below `replay` and `pipeline`, which do not
import each other, and nothing below them reaching up into the entry points."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "claire"

# package -> packages it must never import (directly or lazily inside a function)
FORBIDDEN = {
    "state": ("claire.replay", "claire.pipeline", "claire.api", "claire.cli", "claire.ingest"),
    "pipeline": ("claire.replay", "claire.api", "claire.cli", "claire.ingest"),
    "replay": ("claire.pipeline", "claire.api", "claire.cli", "claire.ingest"),
    "events": ("claire.store", "claire.state", "claire.replay", "claire.pipeline", "claire.api"),
    "store": ("claire.state", "claire.replay", "claire.pipeline", "claire.api", "claire.cli"),
    # The timeline core answers with documents; the CLI and the API are thin faces over it.
    "timeline": ("claire.api", "claire.cli", "claire.ingest", "fastapi", "typer", "starlette"),
}


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upwards(package: str) -> None:
    offending = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert offending == []


@pytest.mark.parametrize("folder", ["benchmarks", "rigs"])
def test_benchmarks_and_rigs_do_not_import_the_test_suite(folder: str) -> None:
    """What benchmarks share with the tests lives in rigs/, which imports neither tests nor
    pytest: a benchmark must not change with (or need) the test suite."""
    root = SRC.parents[1]
    offending = [
        f"{path.relative_to(root)} imports {name}"
        for path in sorted((root / folder).rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in {"tests", "pytest"}
    ]
    assert offending == []
