"""Tamper evidence through the real `claire` entry point, and the export / checkpoint checks.

`claire checkpoint` and `claire verify` run in a subprocess. The `--checkpoints` and `--export`
options of `claire verify` call `add_checkpoint_findings` / `verify_export_file`, tested here
directly on the files the real commands wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.checkpoint import (
    PUBLIC_KEY_ENV,
    CheckpointTimer,
    load_or_create_key,
    read_directory,
)
from claire.audit.checkpoint_verify import add_checkpoint_findings, verify_with_checkpoints
from claire.audit.export_verify import ExportFileError, manifest_path, verify_export_file
from claire.audit.keys import TrustedKey, public_hex
from claire.audit.verify import Problem, verify_log
from claire.store import open_store
from rigs.factories import factory, trade
from rigs.tamper import (
    CASES,
    EVENTS,
    TARGET,
    PostgresRaw,
    SqliteRaw,
    edit_price,
    populate,
    rewrite_history,
)

CLAIRE = str(Path(sys.executable).with_name("claire"))


def claire(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLAIRE, *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def private_env(base: Path) -> dict[str, str]:
    """A private key and witness location, so a test never touches the user's real ones."""
    return {
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_STATE_HOME": str(base / "state"),
        "CLAIRE_CHECKPOINT_KEY": "",
        "CLAIRE_CHECKPOINT_WITNESS": "",
        PUBLIC_KEY_ENV: "",
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return private_env(tmp_path)


@pytest.fixture
def key(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_or_create_key()


def trusted(key: Any) -> TrustedKey:
    return TrustedKey(public_hex(key), "the test's key")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))


def raw_for(url: str) -> SqliteRaw | PostgresRaw:
    if url.startswith("sqlite"):
        return SqliteRaw(Path(url.removeprefix("sqlite:///")))
    return PostgresRaw(url)


def test_claire_checkpoint_writes_and_prints_a_signed_statement(
    url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    with open_store(url, create=True) as store:
        store.append(trade())
    first = claire(env, "checkpoint", "--dir", str(tmp_path / "cp"), "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "Checkpoint written" in first.stdout
    assert "Sequence:   5" in first.stdout
    assert "New signing key created" in first.stdout
    second = claire(
        env, "checkpoint", "--dir", str(tmp_path / "cp"), "--database-url", url, "--json"
    )
    assert second.returncode == 0, second.stderr
    document = orjson.loads(second.stdout)
    assert document["sequence_number"] == 5
    assert document["key_created"] is False
    assert Path(document["file"]).exists()
    with open_store(url, create=True) as store:
        assert document["head_hash"] == store.head().hash
    [one, two] = [f.checkpoint for f in read_directory(tmp_path / "cp")]
    assert one is not None and two is not None
    assert one.public_key == two.public_key == document["public_key"]
    assert (one.number, two.number, two.previous) == (1, 2, one.digest)


def test_claire_checkpoint_errors_are_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = claire(
        {**env, "CLAIRE_CHECKPOINT_KEY": str(tmp_path / "nowhere.pem")},
        "checkpoint",
        "--dir",
        str(tmp_path / "cp"),
        "--database-url",
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert result.returncode == 1
    assert "CLAIRE_CHECKPOINT_KEY" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


# Two cases per adapter through the process boundary; the whole matrix runs in-process.
CLI_CASES = ["payload edited, its own hash recomputed", "two events swapped"]


@pytest.mark.parametrize("case", [c for c in CASES if c.name in CLI_CASES], ids=lambda c: c.name)
def test_claire_verify_names_the_first_bad_sequence(
    url: str, tmp_path: Path, key: Any, env: dict[str, str], case: Any
) -> None:
    populate(url, tmp_path / "cp", key)
    with open_store(url, create=True) as store:
        assert verify_log(store).ok
    raw = raw_for(url)
    try:
        case.tamper(raw)
    finally:
        raw.close()
    broken = claire(env, "verify", "--database-url", url)
    assert broken.returncode == 1
    assert f"BROKEN at sequence {case.first_bad}" in broken.stdout
    assert f"Intact: sequence 1 → {case.first_bad - 1} " in broken.stdout
    document = orjson.loads(claire(env, "verify", "--database-url", url, "--json").stdout)
    assert document["first_break"]["sequence_number"] == case.first_bad
    assert document["first_break"]["problem"] == case.problem.value


def test_claire_verify_after_a_whole_rewrite_gives_one_verdict(
    url: str, tmp_path: Path, key: Any, env: dict[str, str]
) -> None:
    """Issue 12 §1: not "BROKEN at sequence 1" together with "Intact: sequence 1 → 20"."""
    populate(url, tmp_path / "cp", key)
    raw = raw_for(url)
    try:
        rewrite_history(raw, 1)
    finally:
        raw.close()
    args = ["verify", "--checkpoints", str(tmp_path / "cp"), "--database-url", url]
    text = claire(env, *args)
    assert text.returncode == 1
    assert "BROKEN at sequence 1" in text.stdout
    assert "Intact: none" in text.stdout
    assert "→ 20" not in text.stdout
    document = orjson.loads(claire(env, *args, "--json").stdout)
    assert document["first_break"]["sequence_number"] == 1
    assert (document["checked"], document["head_sequence"]) == (0, 0)


def test_verify_with_checkpoints_catches_a_restored_older_backup(tmp_path: Path, key: Any) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    populate(url, tmp_path / "cp", key)
    backup = tmp_path / "backup.db"
    with (
        open_store(f"sqlite:///{backup}", create=True) as old,
        open_store(url, create=True) as store,
    ):
        old.append(list(store.read(1, 10)))  # the database as it was at sequence 10
    with open_store(f"sqlite:///{backup}", create=True) as restored:
        assert verify_log(restored).ok  # a consistent chain, just an old one
        report = verify_with_checkpoints(restored, tmp_path / "cp", trusted(key))
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.sequence_number, report.first_break.problem) == (11, Problem.MISSING)
    assert "older backup" in report.first_break.message
    failed = [f for f in report.extra["checkpoints"]["findings"] if not f["ok"]]
    assert [f["sequence_number"] for f in failed] == [15, 20]


def test_an_empty_checkpoint_directory_is_a_problem(tmp_path: Path, key: Any) -> None:
    (tmp_path / "cp").mkdir()
    with open_store(f"sqlite:///{tmp_path / 'e.db'}", create=True) as store:
        store.append(trade())
        report = add_checkpoint_findings(verify_log(store), store, tmp_path / "cp", trusted(key))
    assert not report.ok
    assert "no checkpoint in" in report.extra_problems[0]


def test_checkpoint_timer_writes_only_when_the_log_moved(tmp_path: Path, key: Any) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}", create=True) as store:
        timer = CheckpointTimer(store, tmp_path / "cp", 0.05, key=key)
        assert timer.tick() is not None
        assert timer.tick() is None  # unchanged head: nothing new
        timer.start()
        store.append(trade())
        deadline = time.monotonic() + 10
        while not any(c.sequence_number == 5 for c in timer.written):
            assert time.monotonic() < deadline, "the timer wrote no checkpoint"
            time.sleep(0.02)
        store.append(trade())
        timer.stop()  # the final checkpoint covers what was appended last
        assert timer.written[-1].sequence_number == 10
        files = read_directory(tmp_path / "cp")
        assert [f.checkpoint.sequence_number for f in files if f.checkpoint][-1] == 10
        assert verify_with_checkpoints(store, tmp_path / "cp", trusted(key)).ok


# --- exports -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine_exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A log with checkpoints, exported once by the real `claire export` command (JSONL, CSV)."""
    base = tmp_path_factory.mktemp("exports")
    key = load_or_create_key(base / "key.pem")
    url = f"sqlite:///{base / 'events.db'}"
    populate(url, base / "cp", key)
    env = {**private_env(base), "CLAIRE_CHECKPOINT_KEY": str(base / "key.pem")}
    for name, fmt in (("audit.jsonl", "jsonl"), ("audit.csv", "csv")):
        args = ["export", "--sequence", "1", str(EVENTS), "--format", fmt, "-o", str(base / name)]
        result = claire(env, *args, "--database-url", url)
        assert result.returncode == 0, result.stderr
    return base, key.public_key().public_bytes_raw().hex()


@pytest.fixture
def auditor(pristine_exports: tuple[Path, str]) -> TrustedKey:
    """The key an auditor trusts: the public half of the key that signed the checkpoints."""
    return TrustedKey(pristine_exports[1], "the auditor's copy")


@pytest.fixture
def exported(
    pristine_exports: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, Path]:
    """Fresh copies of the exports (JSONL, CSV + manifest) and the checkpoint directory."""
    base, public_key = pristine_exports
    for name, value in private_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(PUBLIC_KEY_ENV, public_key)  # an auditor holding only the public key
    for name in ("audit.jsonl", "audit.csv", "audit.csv.manifest.json"):
        shutil.copy(base / name, tmp_path / name)
    shutil.copytree(base / "cp", tmp_path / "cp")
    return tmp_path / "audit.jsonl", tmp_path / "audit.csv", tmp_path / "cp"


def test_untouched_exports_verify_on_their_own(
    exported: tuple[Path, Path, Path], auditor: TrustedKey
) -> None:
    jsonl, csv_file, cp = exported
    for path in (jsonl, csv_file):
        report = verify_export_file(path, auditor, checkpoints=cp)
        assert report.ok, report.to_document()
        assert report.checked == EVENTS
        assert report.extra["checkpoints"]["covering_export"] == 4


def edit_jsonl(path: Path, edit: Any) -> None:
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in edit(lines)) + b"\n")


def test_edited_export_line_is_named(
    exported: tuple[Path, Path, Path], auditor: TrustedKey
) -> None:
    jsonl, _, _ = exported

    def cheaper(lines: list[Any]) -> list[Any]:
        lines[TARGET - 1]["event"]["payload"]["price"] = "1.0"
        return lines

    edit_jsonl(jsonl, cheaper)
    report = verify_export_file(jsonl, auditor)
    assert report.first_break is not None
    assert (report.first_break.sequence_number, report.first_break.problem) == (
        TARGET,
        Problem.HASH,
    )


def test_removed_export_lines_are_named(
    exported: tuple[Path, Path, Path], auditor: TrustedKey
) -> None:
    jsonl, _, _ = exported
    edit_jsonl(jsonl, lambda lines: lines[: TARGET - 1] + lines[TARGET:])
    report = verify_export_file(jsonl, auditor)
    assert report.first_break is not None
    assert (report.first_break.sequence_number, report.first_break.problem) == (
        TARGET,
        Problem.MISSING,
    )
    edit_jsonl(jsonl, lambda lines: lines[1:])  # the first line cut off as well
    first = verify_export_file(jsonl, auditor).first_break
    assert first is not None and (first.sequence_number, first.problem) == (1, Problem.MISSING)


def test_truncated_export_has_no_manifest(
    exported: tuple[Path, Path, Path], auditor: TrustedKey
) -> None:
    jsonl, _, _ = exported
    edit_jsonl(jsonl, lambda lines: lines[:10])
    report = verify_export_file(jsonl, auditor)
    assert not report.ok
    assert "no manifest" in report.extra_problems[0]


def test_forged_export_with_recomputed_hashes_fails_the_checkpoints(
    pristine_exports: tuple[Path, str],
    exported: tuple[Path, Path, Path],
    tmp_path: Path,
    auditor: TrustedKey,
) -> None:
    """Recompute every hash and the manifest: self-consistent, but not what was signed. Signed
    with another key it is untrusted; signed by an insider holding the key, only the
    checkpoints of the real history tell."""
    jsonl, _, cp = exported
    forged_db = f"sqlite:///{tmp_path / 'forged.db'}"
    with open_store(forged_db, create=True) as forged:
        for _ in range(4):
            forged.append(trade(factory("forger")))
    args = ["export", "--sequence", "1", str(EVENTS), "-o", str(jsonl), "--database-url", forged_db]
    outsider = claire(private_env(tmp_path / "outsider"), *args)
    assert outsider.returncode == 0, outsider.stderr
    [problem] = verify_export_file(jsonl, auditor).extra_problems
    assert problem.startswith("manifest: signed by an untrusted key")
    result = claire(
        {**private_env(tmp_path), "CLAIRE_CHECKPOINT_KEY": str(pristine_exports[0] / "key.pem")},
        "export",
        "--sequence",
        "1",
        str(EVENTS),
        "-o",
        str(jsonl),
        "--database-url",
        forged_db,
    )
    assert result.returncode == 0, result.stderr
    assert verify_export_file(jsonl, auditor).ok  # alone it is consistent...
    report = verify_export_file(jsonl, auditor, checkpoints=cp)  # ...but not the signed history
    assert report.first_break is not None
    assert report.first_break.sequence_number == 5
    assert "not the signed history" in report.first_break.message


def test_edited_csv_cell_is_named(exported: tuple[Path, Path, Path], auditor: TrustedKey) -> None:
    _, csv_file, _ = exported
    manifest = manifest_path(csv_file).read_bytes()
    manifest_path(csv_file).unlink()
    assert any("no manifest" in p for p in verify_export_file(csv_file, auditor).extra_problems)
    manifest_path(csv_file).write_bytes(manifest)
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    lines[TARGET] = lines[TARGET].replace("signal_generated", "market_data", 1)
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = verify_export_file(csv_file, auditor)
    assert report.first_break is not None
    assert (report.first_break.sequence_number, report.first_break.problem) == (
        TARGET,
        Problem.COLUMNS,
    )


def test_a_file_that_is_not_an_export_is_a_clear_error(tmp_path: Path, key: Any) -> None:
    auditor = trusted(key)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    with pytest.raises(ExportFileError, match="line 1: not JSON"):
        verify_export_file(junk, auditor)
    with pytest.raises(ExportFileError, match="No such file"):
        verify_export_file(tmp_path / "missing.jsonl", auditor)


def test_export_of_a_tampered_database_carries_the_break(tmp_path: Path, key: Any) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    populate(url, tmp_path / "cp", key)
    raw = SqliteRaw(tmp_path / "events.db")
    edit_price(raw, TARGET, column=True, canonical=True)
    raw.close()
    out = tmp_path / "x.jsonl"
    result = claire(
        {"XDG_CONFIG_HOME": str(tmp_path / "config")},
        "export",
        "--sequence",
        "1",
        str(EVENTS),
        "-o",
        str(out),
        "--database-url",
        url,
    )
    assert result.returncode == 0, result.stderr
    report = verify_export_file(out, trusted(key))
    assert report.first_break is not None
    assert report.first_break.sequence_number == TARGET


# --- the verify flags through the real entry point -----------------------------------------------


def test_claire_verify_checkpoints_flag_catches_an_older_backup(
    tmp_path: Path, env: dict[str, str]
) -> None:
    events = trade() + trade()
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(events)
    written = claire(env, "checkpoint", "--dir", str(tmp_path / "cp"), "--database-url", url)
    assert written.returncode == 0, written.stderr
    clean = claire(env, "verify", "--checkpoints", str(tmp_path / "cp"), "--database-url", url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    older = f"sqlite:///{tmp_path / 'older.db'}"  # "restored from a backup" before the 2nd trade
    with open_store(older, create=True) as store:
        store.append(events[:5])
    plain = claire(env, "verify", "--database-url", older)
    assert plain.returncode == 0  # the chain alone cannot see a missing tail...
    caught = claire(
        env, "verify", "--checkpoints", str(tmp_path / "cp"), "--database-url", older, "--json"
    )
    assert caught.returncode == 1  # ...the signed checkpoint can
    document = orjson.loads(caught.stdout)
    assert document["ok"] is False
    assert "covers 10" in caught.stdout


def test_claire_verify_export_flag(
    exported: tuple[Path, Path, Path], env: dict[str, str], auditor: TrustedKey
) -> None:
    jsonl, _, cp = exported
    trust = ("--public-key", auditor.public_key)
    good = claire(env, "verify", "--export", str(jsonl), "--checkpoints", str(cp), *trust)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK" in good.stdout
    edit_jsonl(jsonl, lambda lines: [lines[0], *lines[2:]])  # drop the second event
    bad = claire(env, "verify", "--export", str(jsonl), "--json", *trust)
    assert bad.returncode == 1
    assert orjson.loads(bad.stdout)["first_break"]["sequence_number"] == 2


def test_serve_writes_checkpoints_every_interval(tmp_path: Path, env: dict[str, str]) -> None:
    from tests.integration.test_api_service import start_server, stop_server

    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, create=True) as store:
        store.append(trade())
    server_env = {
        **os.environ,
        **env,
        "DATABASE_URL": url,
        "CLAIRE_CHECKPOINT_DIR": str(tmp_path / "cp"),
        "CLAIRE_CHECKPOINT_INTERVAL": "0.2",
    }
    server_env.pop("REDIS_URL", None)
    server = start_server(server_env, "--no-ingest")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list((tmp_path / "cp").glob("*.json")):
            time.sleep(0.1)
    finally:
        assert stop_server(server) == 0
    [only] = read_directory(tmp_path / "cp")  # the head did not move: one file only
    assert only.checkpoint is not None and only.checkpoint.sequence_number == 5
