#!/usr/bin/env python3
"""Project tasks that need nothing but Python 3.11+: `python3 tasks.py demo|test|lint|bench`.

Each task creates the virtual environment in .venv (once) and installs what it needs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup() -> None:
    """Create .venv and install the package with every extra and the dev group."""
    if sys.version_info < (3, 11):  # noqa: UP036 - users run this with whatever python3 they have
        sys.exit(f"Claire needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating virtual environment in .venv", flush=True)
        venv.create(VENV, with_pip=True)
    pip: list[str | Path] = [BIN / "python", "-m", "pip", "install", "--quiet"]
    run(*pip, "--upgrade", "pip>=25.1")  # --group needs pip 25.1
    run(*pip, "--editable", ".[all]", "--group", "dev")
    STAMP.write_text(wanted)


def demo(args: list[str]) -> None:
    run(BIN / "claire", "demo", *args)


def test(args: list[str]) -> None:
    run(BIN / "python", "-m", "pytest", *args)


def lint(_: list[str]) -> None:
    paths = ["src", "tests", "rigs", "benchmarks", "tasks.py", "claire_cli.py"]
    run(BIN / "ruff", "check", *paths)
    run(BIN / "ruff", "format", "--check", *paths)
    run(BIN / "mypy", *paths)


def bench(args: list[str]) -> None:
    run(BIN / "python", "-m", "benchmarks", *args)


TASKS = {"demo": demo, "test": test, "lint": lint, "bench": bench}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {*TASKS, "setup"}:
        sys.exit(f"usage: python3 tasks.py {{setup|{'|'.join(TASKS)}}} [args...]")
    setup()
    if sys.argv[1] != "setup":
        TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
