"""Signing keys and trusted public keys: load, fingerprint, resolve, sign, check.

Anything Claire signs (checkpoints, export manifests, later archive segment manifests) is a JSON
document signed with one Ed25519 key: the document's sorted-key JSON without its `signature`
field is what is signed, and the document carries the signer's `public_key` (hex) beside the
`signature` (hex).

A signature alone proves nothing: whoever rewrites history can sign it with a key of their own.
So every check takes a *trusted* public key, found in this order (`resolve_trusted_key`):
`--public-key FILE|HEX`, the CLAIRE_CHECKPOINT_PUBLIC_KEY environment variable (FILE or HEX), or
the public half of the local key pair (CLAIRE_CHECKPOINT_KEY, else
$XDG_CONFIG_HOME/claire/checkpoint_ed25519.pem). With none, checking refuses to start. A document
signed by any other key is reported as untrusted, with that key's fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from claire.errors import ClaireError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_ENV = "CLAIRE_CHECKPOINT_KEY"
PUBLIC_KEY_ENV = "CLAIRE_CHECKPOINT_PUBLIC_KEY"
HOW_TO_TRUST = (
    "no trusted public key to check signatures with: pass --public-key FILE|HEX, set "
    f"{PUBLIC_KEY_ENV}=FILE|HEX, or run where the signing key pair is ({KEY_ENV} or "
    "~/.config/claire/checkpoint_ed25519.pem)"
)


class SigningKeyError(ClaireError):
    """A key file or key text is missing, unreadable or not an Ed25519 key."""


class NoTrustedKeyError(SigningKeyError):
    """A signature must be checked but no trusted public key is configured."""


def default_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claire" / "checkpoint_ed25519.pem"


def key_path() -> Path:
    """Where the signing key is: CLAIRE_CHECKPOINT_KEY, else the default path."""
    return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else default_key_path()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 private key")
    return key


def load_or_create_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The signing key; created (mode 0600) when no key exists at the default place. A key
    named by CLAIRE_CHECKPOINT_KEY must exist (a typo must not silently make a new key)."""
    signing = signing_key(path)
    signing.keep()
    return signing.key


@dataclass
class SigningKey:
    """The signing key of one command: the one on disk, or a new one held in memory until
    `keep()` writes it. A command that fails before it signs anything (no store, a bad
    argument) so leaves no new key behind."""

    key: Ed25519PrivateKey
    path: Path
    created: bool  # a new key (on disk only once kept)
    kept: bool

    def keep(self) -> None:
        """Write a new key to its path (mode 0600, never over another file); nothing for a key
        that is already there."""
        if self.kept:
            return
        from cryptography.hazmat.primitives import serialization

        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SigningKeyError(
                f"{self.path}: a signing key appeared there while this command ran; run it again"
            ) from None
        except OSError as exc:
            raise SigningKeyError(f"{self.path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        self.kept = True


def signing_key(path: Path | None = None) -> SigningKey:
    """The key at `path` (default: CLAIRE_CHECKPOINT_KEY, else the default place), or, when
    there is none at the default place, a new one that is written only by `keep()`. A key named
    by CLAIRE_CHECKPOINT_KEY must exist (a typo must not silently make a new key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = path or key_path()
    if path.exists():
        return SigningKey(load_private_key(path), path, created=False, kept=True)
    if os.environ.get(KEY_ENV):
        raise SigningKeyError(f"{KEY_ENV}={path} does not exist")
    return SigningKey(Ed25519PrivateKey.generate(), path, created=True, kept=False)


def public_hex(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key of a private key, as 64 hex digits."""
    return key.public_key().public_bytes_raw().hex()


def fingerprint(public_key_hex: str) -> str:
    """A short, stable name for a public key: "ed25519:" + the first 16 hex digits of the
    SHA-256 of its raw bytes (what people compare; checks compare the whole key)."""
    try:
        raw = bytes.fromhex(public_key_hex)
    except ValueError:
        raw = public_key_hex.encode()
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """The public key signatures must carry, and where it came from (for the output)."""

    public_key: str  # 64 lowercase hex digits
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_document(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
            "source": self.source,
        }


def _hex_key(text: str) -> str | None:
    text = text.strip().lower()
    try:
        return text if len(bytes.fromhex(text)) == 32 else None
    except ValueError:
        return None


def _pem_public_key(data: bytes, where: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if b"PRIVATE KEY" in data:
        raise SigningKeyError(
            f"{where} holds a private key; give its public key (the hex `claire checkpoint` "
            "prints) so the private key never leaves the signing machine"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise SigningKeyError(
            f"{where}: neither 64 hex digits nor a PEM public key (Ed25519 expected)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: not an Ed25519 public key")
    return key.public_bytes_raw().hex()


def parse_public_key(value: str, where: str) -> str:
    """A public key given as 64 hex digits, or as a file holding them or a PEM public key."""
    found = _hex_key(value)
    if found is not None:
        return found
    path = Path(value)
    if not path.is_file():
        raise SigningKeyError(f"{where} {value!r}: neither 64 hex digits nor an existing key file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{where} {value}: {exc.strerror or exc}") from None
    found = _hex_key(data.decode("ascii", errors="replace"))
    return found if found is not None else _pem_public_key(data, f"{where} {value}")


def resolve_trusted_key(option: str | None = None) -> TrustedKey:
    """The trusted public key: --public-key, else CLAIRE_CHECKPOINT_PUBLIC_KEY, else the local
    key pair's public half; NoTrustedKeyError (saying how to give one) when there is none."""
    if option:
        return TrustedKey(parse_public_key(option, "--public-key"), "--public-key")
    configured = os.environ.get(PUBLIC_KEY_ENV)
    if configured:
        return TrustedKey(parse_public_key(configured, PUBLIC_KEY_ENV), PUBLIC_KEY_ENV)
    path = key_path()
    if path.exists():
        return TrustedKey(public_hex(load_private_key(path)), f"local key pair {path}")
    raise NoTrustedKeyError(HOW_TO_TRUST)


# --- signed documents ----------------------------------------------------------------------------


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What a signature covers: the document without `signature`, sorted keys, no whitespace."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def digest(document: dict[str, Any]) -> str:
    """SHA-256 of a signed document's signed bytes (how a later document names it)."""
    return hashlib.sha256(signed_bytes(document)).hexdigest()


def sign_document(key: Ed25519PrivateKey, document: dict[str, Any]) -> dict[str, Any]:
    """The document with the signer's `public_key` and the `signature` added."""
    signed = {**document, "public_key": public_hex(key)}
    signed.pop("signature", None)
    signed["signature"] = key.sign(signed_bytes(signed)).hex()
    return signed


def signature_problem(document: dict[str, Any], trusted: TrustedKey) -> str | None:
    """None when `document` is signed by the trusted key and unchanged since; else why not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signer, signature = document.get("public_key"), document.get("signature")
    if not isinstance(signer, str) or not isinstance(signature, str):
        return "not signed (no public_key and signature)"
    if signer.lower() != trusted.public_key:
        return (
            f"signed by an untrusted key {fingerprint(signer)} "
            f"(trusted: {trusted.fingerprint} from {trusted.source})"
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(trusted.public_key))
        public.verify(bytes.fromhex(signature), signed_bytes(document))
    except (InvalidSignature, ValueError):
        return "the signature does not match the content (edited after signing)"
    return None


__all__ = [
    "HOW_TO_TRUST",
    "KEY_ENV",
    "PUBLIC_KEY_ENV",
    "NoTrustedKeyError",
    "SigningKey",
    "SigningKeyError",
    "TrustedKey",
    "default_key_path",
    "digest",
    "fingerprint",
    "key_path",
    "load_or_create_key",
    "load_private_key",
    "parse_public_key",
    "public_hex",
    "resolve_trusted_key",
    "sign_document",
    "signature_problem",
    "signed_bytes",
    "signing_key",
]
