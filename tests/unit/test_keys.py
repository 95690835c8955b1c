"""Trusted keys: where they come from, what a signature check says, and the fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from claire.audit.keys import (
    PUBLIC_KEY_ENV,
    NoTrustedKeyError,
    SigningKeyError,
    TrustedKey,
    fingerprint,
    load_or_create_key,
    public_hex,
    resolve_trusted_key,
    sign_document,
    signature_problem,
    signing_key,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CLAIRE_CHECKPOINT_KEY", raising=False)
    monkeypatch.delenv(PUBLIC_KEY_ENV, raising=False)
    return tmp_path


def test_no_key_anywhere_says_how_to_give_one(home: Path) -> None:
    with pytest.raises(NoTrustedKeyError) as caught:
        resolve_trusted_key()
    message = str(caught.value)
    assert "--public-key" in message and PUBLIC_KEY_ENV in message
    assert "\n" not in message


def test_resolution_order_option_then_environment_then_local_pair(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = load_or_create_key()
    assert resolve_trusted_key().public_key == public_hex(local)
    assert "local key pair" in resolve_trusted_key().source
    other = public_hex(load_or_create_key(home / "other.pem"))
    monkeypatch.setenv(PUBLIC_KEY_ENV, other.upper())
    assert resolve_trusted_key() == TrustedKey(other, PUBLIC_KEY_ENV)
    third = public_hex(load_or_create_key(home / "third.pem"))
    assert resolve_trusted_key(third).public_key == third


def test_public_key_files_hex_or_pem_but_never_a_private_key(home: Path) -> None:
    key = load_or_create_key(home / "k.pem")
    (home / "k.hex").write_text(public_hex(key) + "\n")
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (home / "k.pub").write_bytes(pem)
    for name in ("k.hex", "k.pub"):
        assert resolve_trusted_key(str(home / name)).public_key == public_hex(key)
    with pytest.raises(SigningKeyError, match="holds a private key"):
        resolve_trusted_key(str(home / "k.pem"))
    with pytest.raises(SigningKeyError, match="neither 64 hex digits nor an existing key file"):
        resolve_trusted_key("not-a-key")


def test_signature_problems_name_the_untrusted_key(home: Path) -> None:
    mine, theirs = load_or_create_key(home / "a.pem"), load_or_create_key(home / "b.pem")
    trusted = TrustedKey(public_hex(mine), "test")
    document: dict[str, Any] = sign_document(mine, {"sequence_number": 5, "head_hash": "ab"})
    assert signature_problem(document, trusted) is None
    assert signature_problem({**document, "sequence_number": 6}, trusted) == (
        "the signature does not match the content (edited after signing)"
    )
    forged = sign_document(theirs, {"sequence_number": 5, "head_hash": "ab"})
    problem = signature_problem(forged, trusted)
    assert problem is not None and f"untrusted key {fingerprint(public_hex(theirs))}" in problem
    assert signature_problem({"sequence_number": 5}, trusted) == (
        "not signed (no public_key and signature)"
    )
    assert fingerprint(public_hex(mine)).startswith("ed25519:")
    assert len(fingerprint(public_hex(mine))) == len("ed25519:") + 16


def test_a_new_signing_key_is_on_disk_only_once_kept(home: Path) -> None:
    signing = signing_key()
    path = home / "config" / "claire" / "checkpoint_ed25519.pem"
    assert signing.created and signing.path == path and not path.exists()
    signing.keep()
    signing.keep()  # once is enough
    assert path.stat().st_mode & 0o777 == 0o600
    again = signing_key()
    assert not again.created and public_hex(again.key) == public_hex(signing.key)
    # Two commands that both made a new key: the second may not overwrite the first's.
    path.unlink()
    first, second = signing_key(), signing_key()
    first.keep()
    with pytest.raises(SigningKeyError, match="appeared there while this command ran"):
        second.keep()
    assert public_hex(load_or_create_key()) == public_hex(first.key)
