"""A command that signs (export, checkpoint, archive seal) writes a new signing key only once it
has something to sign: a failing run (no store, an unwritable output) leaves no key behind, so
the next run does not sign with a key that nobody was told about."""

from __future__ import annotations

from pathlib import Path

import pytest

from claire.audit.keys import default_key_path
from claire.store import open_store
from rigs.factories import trade
from tests.integration.test_tamper_cli import claire, private_env


def key_file(base: Path) -> Path:
    return base / "config" / "claire" / "checkpoint_ed25519.pem"


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--sequence", "1", "5", "-o", "{base}/out.jsonl"],
        ["export", "--sequence", "1", "5", "--format", "csv", "-o", "{base}/out.csv"],
        ["checkpoint", "--dir", "{base}/checkpoints"],
        ["archive", "seal", "--through", "5", "--archive-url", "{base}/archive"],
    ],
)
def test_a_run_that_fails_leaves_no_new_key(tmp_path: Path, args: list[str]) -> None:
    env = private_env(tmp_path)
    argv = [a.format(base=tmp_path) for a in args]
    missing = claire(env, *argv, "--database-url", f"sqlite:///{tmp_path / 'missing.db'}")
    assert missing.returncode == 1, missing.stderr
    assert "no Claire store" in missing.stderr and "Traceback" not in missing.stderr
    assert not key_file(tmp_path).exists()
    assert not (tmp_path / "config").exists()


def test_an_unwritable_output_leaves_no_new_key_then_a_good_run_makes_one(tmp_path: Path) -> None:
    env = private_env(tmp_path)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(trade())
    bad_output = claire(
        env, "export", "--sequence", "1", "5", "-o", "/nonexistent/x.jsonl", "--database-url", url
    )
    assert bad_output.returncode == 2, bad_output.stderr
    assert "--output /nonexistent/x.jsonl: No such file or directory" in bad_output.stderr
    bad_dir = claire(env, "checkpoint", "--dir", "/proc/claire-cp", "--database-url", url)
    assert bad_dir.returncode == 2 and "Traceback" not in bad_dir.stderr, bad_dir.stderr
    assert "--dir /proc/claire-cp: " in bad_dir.stderr
    assert not key_file(tmp_path).exists()

    good = claire(
        env,
        "export",
        "--sequence",
        "1",
        "5",
        "-o",
        str(tmp_path / "x.jsonl"),
        "--database-url",
        url,
    )
    assert good.returncode == 0, good.stderr
    assert f"New signing key created at {key_file(tmp_path)}" in good.stderr
    assert key_file(tmp_path).stat().st_mode & 0o777 == 0o600
    again = claire(env, "checkpoint", "--dir", str(tmp_path / "cp"), "--database-url", url)
    assert again.returncode == 0 and "New signing key" not in again.stdout + again.stderr


def test_the_default_key_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_key_path() == key_file(tmp_path)
