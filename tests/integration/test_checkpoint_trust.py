"""Issue 11 §2 through the real `claire` entry point: no trust without a trusted key, and a
checkpoint directory that lost, swapped or contradicts a file is reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.checkpoint import load_or_create_key, read_directory, write_checkpoint
from claire.audit.keys import PUBLIC_KEY_ENV, fingerprint, public_hex
from claire.store import open_store
from rigs.factories import trade
from rigs.tamper import populate
from tests.integration.test_tamper_cli import claire, private_env


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_checkpoints_signed_by_someone_elses_key_are_not_trusted(url: str, tmp_path: Path) -> None:
    """Seen: checkpoints signed with an attacker's key, verified on a machine without a key,
    gave `Hash chain OK`, exit 0, and no word about whose signature was accepted."""
    attacker = load_or_create_key(tmp_path / "attacker.pem")
    populate(url, tmp_path / "cp", attacker)
    args = ["verify", "--checkpoints", str(tmp_path / "cp"), "--database-url", url]

    no_key = claire(private_env(tmp_path / "auditor"), *args)
    assert no_key.returncode == 1
    assert no_key.stdout == ""
    [line] = no_key.stderr.strip().splitlines()
    assert "--public-key" in line and PUBLIC_KEY_ENV in line

    auditor_env = private_env(tmp_path / "auditor")
    load_or_create_key(Path(auditor_env["XDG_CONFIG_HOME"]) / "claire" / "checkpoint_ed25519.pem")
    own_key = claire(auditor_env, *args)
    assert own_key.returncode == 1
    assert "Hash chain OK" not in own_key.stdout
    assert f"untrusted key {fingerprint(public_hex(attacker))}" in own_key.stdout

    trusting = claire(auditor_env, *args, "--public-key", public_hex(attacker))
    assert trusting.returncode == 0, trusting.stdout + trusting.stderr
    assert (
        f"Checkpoints: 4 checkpoints signed by key {fingerprint(public_hex(attacker))}, "
        "newest at sequence 20"
    ) in trusting.stdout


def test_a_deleted_replaced_or_contradicting_checkpoint_is_reported(tmp_path: Path) -> None:
    env = private_env(tmp_path)
    key = load_or_create_key(Path(env["XDG_CONFIG_HOME"]) / "claire" / "checkpoint_ed25519.pem")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    cp = tmp_path / "cp"
    populate(url, cp, key)
    args = ["verify", "--checkpoints", str(cp), "--database-url", url, "--json"]

    def problems() -> list[str]:
        result = claire(env, *args)
        document = orjson.loads(result.stdout)
        assert (result.returncode == 0) is document["ok"]
        assert document["checkpoints"]["trusted_key"]["fingerprint"] == fingerprint(public_hex(key))
        return list(document["problems"])

    assert problems() == []  # this verifier has now seen checkpoint #4 at sequence 20
    files = [f.path for f in read_directory(cp)]
    saved = tmp_path / "saved"
    shutil.copytree(cp, saved)

    files[-1].unlink()  # the newest file deleted
    [gone] = problems()
    assert "#4 at sequence 20" in gone and "is gone" in gone

    shutil.rmtree(cp)
    shutil.copytree(saved, cp)
    other = tmp_path / "other"  # #2 replaced by a validly signed checkpoint of another log
    with open_store(f"sqlite:///{tmp_path / 'other.db'}", create=True) as store:
        store.append(trade() + trade())
        first = read_directory(cp)[0].checkpoint
        impostor = write_checkpoint(store, other, key=key, previous=first).path
    assert impostor is not None
    files[1].unlink()
    shutil.copy(impostor, cp / impostor.name)
    replaced = problems()
    assert any("#3" in p and "does not follow checkpoint #2" in p for p in replaced), replaced

    shutil.rmtree(cp)
    shutil.copytree(saved, cp)
    shutil.copy(impostor, cp / impostor.name)  # two checkpoints of sequence 10 disagree
    contradicting = problems()
    assert any("contradict each other: sequence 10" in p for p in contradicting), contradicting


def test_verify_trusts_a_public_key_file_from_the_environment(tmp_path: Path) -> None:
    key: Any = load_or_create_key(tmp_path / "signer.pem")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    populate(url, tmp_path / "cp", key)
    (tmp_path / "signer.hex").write_text(public_hex(key) + "\n")
    env = {**private_env(tmp_path / "auditor"), PUBLIC_KEY_ENV: str(tmp_path / "signer.hex")}
    result = claire(env, "verify", "--checkpoints", str(tmp_path / "cp"), "--database-url", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"signed by key {fingerprint(public_hex(key))}" in result.stdout
    usage = claire(env, "verify", "--public-key", public_hex(key), "--database-url", url)
    assert usage.returncode == 2
    assert "--checkpoints or --export" in usage.stderr
