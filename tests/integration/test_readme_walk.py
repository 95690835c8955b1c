"""The README's walk, run as a new user runs it: every `$ ...` command of "A walk from the demo to
a proof", in order, in an empty directory; each must succeed and print what the README pasted.

What the README says differs from run to run is masked on both sides before comparing: event
ids (random UUIDs; correlation and session ids are derived, and compared), hashes, keys and
signatures, times of day, directories, Parquet sizes and elapsed seconds. The README's own
event id and public key are replaced by this run's in the commands that take them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

MASKS = [
    # UUID version 4: event ids, new in every recording (uuid5 trade/session ids stay).
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b"),
        "<id>",
    ),
    (re.compile(r"\b[0-9a-f]{128}\b"), "<signature>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<hash>"),
    (re.compile(r"\b[0-9a-f]{16}\b…?"), "<short>"),
    (re.compile(r"\d{8}T\d{12}Z"), "<stamp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z(?=$|\s)"), "<now>"),
    (re.compile(r"[\d,]+ bytes"), "<size>"),
    (re.compile(r"Elapsed: .*"), "Elapsed: <elapsed>"),
]


def masked(lines: list[str], directory: str) -> list[str]:
    out = []
    for raw in lines:
        line = raw.rstrip().replace(directory, "<dir>")
        for pattern, mask in MASKS:
            line = pattern.sub(mask, line)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def walk_steps() -> list[Step]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A walk from the demo to a proof", 1)[1].split("\n## ", 1)[0]
    steps: list[Step] = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.DOTALL):
        lines = block.split("\n")
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not line.startswith("$ "):
                if steps:
                    steps[-1].expected.append(line)
                continue
            command = line[2:]
            while command.count('"') % 2 and index < len(lines):  # a quoted multi-line argument
                command += "\n" + lines[index]
                index += 1
            steps.append(Step(command))
    return steps


@pytest.mark.slow
def test_the_readme_walk_runs_as_pasted(tmp_path: Path) -> None:
    steps = walk_steps()
    assert len(steps) >= 20 and steps[0].command == "claire demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIRE_", "DATABASE_URL"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    store = re.search(r"Store: +sqlite:///(/\S*)/claire_events\.db", "\n".join(steps[0].expected))
    assert store, "the demo's output names its store"
    readme_dir = store.group(1)  # where the README's run was made
    replace: dict[str, str] = {}
    for step in steps:
        command = step.command
        for old, new in replace.items():
            command = command.replace(old, new)
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            env[name] = value.replace("$PWD", str(tmp_path))
            continue
        if command == "claire ui":  # serves until Ctrl-C: started and stopped elsewhere
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        actual = (done.stdout + done.stderr).split("\n")
        ours, pasted = masked(actual, str(tmp_path)), step.expected
        if pasted and pasted[0] == "...":  # the README shows the end only
            pasted = pasted[1:]
            ours = ours[-len(masked(pasted, readme_dir)) :]
        assert ours == masked(pasted, readme_dir), command
        # The README's event id and public key stand for this run's in later commands.
        for pattern in (r"claire explain ([0-9a-f-]{36})\n", r"Public key: ([0-9a-f]{64})"):
            for pasted, ours in zip(
                re.findall(pattern, "\n".join(step.expected) + "\n"),
                re.findall(pattern, "\n".join(actual) + "\n"),
                strict=False,
            ):
                replace[pasted] = ours
    assert replace, "the walk names an event id and a key"
