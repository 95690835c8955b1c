"""Issue 12 §8: an export proves its completeness. The manifest is signed with the checkpoint
key and commits to every exported event (the runs of sequence numbers, each with its first
prev_hash and last hash), so any removed, added, reordered or edited line, and an edited or
removed manifest, fails with its reason.

One trade's export, made by the real `claire export` from SQLite and from PostgreSQL: the trade
is interleaved with another, so its events form two runs (1-2 and 8-10).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.export_verify import manifest_path, verify_export_file
from claire.audit.keys import TrustedKey, fingerprint, load_or_create_key, public_hex, sign_document
from claire.audit.verify import Problem, VerifyReport
from claire.events.codec import chain_hash
from claire.store import open_store
from rigs.factories import factory, trade
from tests.conftest import throwaway_database
from tests.integration.test_tamper_cli import claire, private_env

Lines = list[dict[str, Any]]
RISK = 2  # the line of the risk decision (sequence 8, the first of the second run)


@dataclass(frozen=True)
class Exported:
    directory: Path
    key_file: Path
    trusted: TrustedKey


def _populate(url: str) -> None:
    f = factory("signal-engine")
    mine, other, later = trade(f), trade(f, "ETHUSDT"), trade(f, "SOLUSDT")
    with open_store(url, create=True) as store:
        store.append(mine[:2])
        store.append(other)
        store.append(mine[2:])
        store.append(later)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pristine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exported]:
    base = tmp_path_factory.mktemp("export-trust")
    key = load_or_create_key(base / "key.pem")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{base / 'events.db'}"
        else:
            admin = request.getfixturevalue("pg_admin_url")
            url = stack.enter_context(throwaway_database(admin, "export"))
        _populate(url)
        with open_store(url) as store:
            correlation = str(next(store.read(1, 1)).correlation_id)
        env = {**private_env(base), "CLAIRE_CHECKPOINT_KEY": str(base / "key.pem")}
        for name, fmt in (("trade.jsonl", "jsonl"), ("trade.csv", "csv")):
            args = ["export", "--correlation", correlation, "--format", fmt]
            result = claire(env, *args, "-o", str(base / name), "--database-url", url)
            assert result.returncode == 0, result.stderr
        assert f"Manifest signed by key {fingerprint(public_hex(key))}" in result.stdout
        yield Exported(base, base / "key.pem", TrustedKey(public_hex(key), "test"))


@pytest.fixture
def copy(pristine: Exported, tmp_path: Path) -> Path:
    """A fresh copy of the exports in tmp_path; returns the JSONL file."""
    for name in ("trade.jsonl", "trade.csv", "trade.csv.manifest.json"):
        shutil.copy(pristine.directory / name, tmp_path / name)
    return tmp_path / "trade.jsonl"


def rewrite(path: Path, edit: Callable[[Lines], Lines]) -> None:
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in edit(lines)))


def manifest_of(lines: Lines) -> dict[str, Any]:
    manifest: dict[str, Any] = lines[-1]["manifest"]
    return manifest


def rehash(line: dict[str, Any]) -> None:
    data = orjson.dumps(line["event"], option=orjson.OPT_SORT_KEYS)
    line["hash"] = chain_hash(line["prev_hash"], data)


def approve_and_rehash(lines: Lines, index: int) -> Lines:
    lines[index]["event"]["payload"]["reason"] = "Forged"
    rehash(lines[index])
    return lines


def drop_last_and_fix_manifest(lines: Lines) -> Lines:
    """Seen: drop the last event and fix the manifest to match."""
    lines = [*lines[:-2], lines[-1]]
    manifest = manifest_of(lines)
    manifest["count"] -= 1
    manifest["runs"][-1]["last_sequence"] -= 1
    manifest["runs"][-1]["last_hash"] = lines[-2]["hash"]
    manifest["last_sequence"], manifest["head_hash"] = (
        lines[-2]["sequence_number"],
        lines[-2]["hash"],
    )
    return lines


def resigned_by_another_key(directory: Path) -> Callable[[Lines], Lines]:
    def edit(lines: Lines) -> Lines:
        lines = drop_last_and_fix_manifest(lines)
        lines[-1]["manifest"] = sign_document(
            load_or_create_key(directory / "forger.pem"), manifest_of(lines)
        )
        return lines

    return edit


def unsigned(lines: Lines) -> Lines:
    for name in ("signature", "public_key"):
        manifest_of(lines).pop(name)
    return lines


def line_removed_count_fixed(lines: Lines) -> Lines:
    """Seen: delete the risk decision line and set the manifest's count to match."""
    del lines[RISK]
    manifest_of(lines)["count"] -= 1
    return lines


def _edited(lines: Lines, *, rehashed: bool = True) -> Lines:
    lines[RISK]["event"]["payload"]["approved"] = not lines[RISK]["event"]["payload"]["approved"]
    if rehashed:
        rehash(lines[RISK])
    return lines


def _manifest_edit(lines: Lines) -> Lines:
    manifest_of(lines)["selection"] = {"from_sequence": 1, "to_sequence": 10}
    return lines


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Lines], Lines]
    problem: str | None = None  # a substring of one of the report's problems
    broken: tuple[int, Problem] | None = None  # the first break's sequence and problem


CASES = [
    Case("line removed", lambda ls: ls[:RISK] + ls[RISK + 1 :], "holds 4", (8, Problem.MISSING)),
    Case("line removed, count fixed", line_removed_count_fixed, "signature does not match"),
    Case("last line dropped, manifest fixed", drop_last_and_fix_manifest, "does not match"),
    Case("line added", lambda ls: [*ls[:2], {**ls[1], "sequence_number": 5}, *ls[2:]], "added"),
    Case("lines reordered", lambda ls: [ls[0], ls[1], ls[3], ls[2], *ls[4:]], "reordered"),
    Case("line edited", lambda ls: _edited(ls, rehashed=False), broken=(8, Problem.HASH)),
    Case("line edited, its hash recomputed", _edited, broken=(8, Problem.SUCCESSOR)),
    Case(
        "last line of a run edited, its hash recomputed",
        lambda ls: approve_and_rehash(ls, 1),
        broken=(2, Problem.SUCCESSOR),
    ),
    Case("manifest edited", _manifest_edit, "does not match"),
    Case("manifest unsigned (old format)", unsigned, "not signed"),
    Case("manifest removed", lambda ls: ls[:-1], "no manifest"),
]


def check(report: VerifyReport, problem: str | None, broken: tuple[int, Problem] | None) -> None:
    assert not report.ok
    document = report.to_document()
    if problem is not None:
        assert any(problem in p for p in report.extra_problems), document
    if broken is not None:
        assert report.first_break is not None, document
        assert (report.first_break.sequence_number, report.first_break.problem) == broken, document


def test_the_untouched_export_verifies(copy: Path, pristine: Exported) -> None:
    for path in (copy, copy.with_name("trade.csv")):
        report = verify_export_file(path, pristine.trusted)
        assert report.ok, report.to_document()
        assert report.checked == 5
    runs = orjson.loads(copy.read_bytes().splitlines()[-1])["manifest"]["runs"]
    assert [(r["first_sequence"], r["last_sequence"]) for r in runs] == [(1, 2), (8, 10)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_change_to_the_file_fails_with_its_reason(
    copy: Path, pristine: Exported, case: Case
) -> None:
    rewrite(copy, case.edit)
    check(verify_export_file(copy, pristine.trusted), case.problem, case.broken)


def test_a_manifest_resigned_by_another_key_is_untrusted(
    copy: Path, pristine: Exported, tmp_path: Path
) -> None:
    rewrite(copy, resigned_by_another_key(tmp_path))
    forger = fingerprint(public_hex(load_or_create_key(tmp_path / "forger.pem")))
    check(verify_export_file(copy, pristine.trusted), f"untrusted key {forger}", None)


def test_a_removed_manifest_is_named_as_such_not_as_missing_events(
    copy: Path, pristine: Exported
) -> None:
    """Seen: removing the manifest was reported as "missing: sequences …"."""
    csv_file = copy.with_name("trade.csv")
    manifest_path(csv_file).unlink()
    rewrite(copy, lambda lines: lines[:-1])
    for path in (copy, csv_file):
        report = verify_export_file(path, pristine.trusted)
        assert report.first_break is None, report.to_document()
        [problem] = report.extra_problems
        assert problem.startswith("no manifest")


def test_claire_verify_export_through_the_entry_point(
    copy: Path, pristine: Exported, tmp_path: Path
) -> None:
    """Seen: a trade export without its risk decision line and with the manifest's count set to
    match passed `claire verify --export` (so did dropping the last event and fixing the
    manifest). Now it fails, and verify needs a trusted key first."""
    no_key = claire(private_env(tmp_path / "auditor"), "verify", "--export", str(copy))
    assert no_key.returncode == 1
    assert "--public-key" in no_key.stderr
    env = {
        **private_env(tmp_path / "auditor"),
        "CLAIRE_CHECKPOINT_PUBLIC_KEY": pristine.trusted.public_key,
    }
    good = claire(env, "verify", "--export", str(copy))
    assert good.returncode == 0, good.stdout + good.stderr
    rewrite(copy, line_removed_count_fixed)
    bad = claire(env, "verify", "--export", str(copy))
    assert bad.returncode == 1
    assert "manifest: the signature does not match" in bad.stdout
    assert "BROKEN at sequence 8" in bad.stdout
