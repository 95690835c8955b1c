"""Secrets never leave the process: connection strings with the password masked, and a mask for
any text (error messages, log lines) that might carry a password, token or key.

Two layers, because libpq, redis-py and others echo a connection string back in their error
messages ("missing "=" after "postgresql://claire:S3cretPW@..." in connection info string"):
- `redact_url` masks the password of one connection string, PostgreSQL (URL or key=value form,
  checked with psycopg's conninfo parser, which is libpq's own) or Redis (`redis://:pw@host`,
  `?password=`);
- `redact_text` masks every connection string inside a text, and every secret this process
  registered (`register_secret`: passwords of the configured URLs and the API tokens, done by
  `claire.config.load_settings`), wherever it appears.
`install_log_redaction` applies `redact_text` to every log record of the process, its
traceback included. When unsure, mask more: a masked host name is a nuisance, a leaked
password is an incident.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import unquote

MASK = "***"
# scheme://user:password@host... : everything from the first ':' of the user info up to the
# LAST '@' before the next whitespace or quote is the password (an unencoded '@' in a
# password makes the host start after the last one, as URL parsers read it).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"'<>]*:)(?P<secret>[^\s\"'<>]*)@"
)
# password=... in a key=value conninfo or a URL query (quoted values may hold spaces).
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pass|token|secret)\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&'\"]+)",
    re.IGNORECASE,
)
# Secrets shorter than this are not searched for in free text (a one-letter "password"
# would mask every such letter); they are still masked inside connection strings.
MIN_REGISTERED_LENGTH = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret of this process so `redact_text` masks it wherever it appears."""
    if value and len(value) >= MIN_REGISTERED_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def register_url_secrets(url: str | None) -> None:
    """Register the password a connection string carries (plain and percent-decoded)."""
    password = url_password(url) if url else None
    register_secret(password)
    if password:
        register_secret(unquote(password))
        # An unencoded '@' in a password: libpq and redis-py split it at the first one and
        # quote the rest back as the host ("failed to resolve host 'PW-xyz@db'").
        for part in password.split("@"):
            register_secret(part)


# A whole string that is one URL: its user info runs to the LAST '@' of the string, whatever
# the password holds (spaces, quotes: libpq refuses such a URL and quotes the password back).
_WHOLE_URL = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.\-]*://(?P<user>[^:/@]*):(?P<secret>.*)@", re.S)


def url_password(url: str) -> str | None:
    """The password of a connection string, or None (never raises)."""
    whole = _WHOLE_URL.match(url)
    if whole and whole.group("secret"):
        return whole.group("secret")
    match = _URL_PASSWORD.search(url)
    if match:
        return match.group("secret")
    key = _KEY_PASSWORD.search(url)
    if key:
        return key.group("secret").strip("'\"")
    return None


def _mask_connection_strings(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _KEY_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redact_url(url: str | None) -> str:
    """`url` with its password masked: postgresql://claire:***@db:5432/claire.

    For PostgreSQL the result is parsed again with libpq's parser (psycopg's
    `conninfo_to_dict`); if a password is still there, the whole string is withheld.
    """
    if not url:
        return ""
    whole = _WHOLE_URL.match(url)
    if whole and whole.group("secret"):
        url = f"{url[: whole.start('secret')]}{MASK}{url[whole.end('secret') :]}"
    masked = _mask_connection_strings(url)
    if masked.startswith(("postgresql://", "postgres://")) or "=" in masked.split("://", 1)[0]:
        masked = _checked_conninfo(masked)
    return masked


def _checked_conninfo(masked: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:  # the postgres extra is not installed: the regex mask stands alone
        return masked
    try:
        params = conninfo_to_dict(masked)
    except Exception:  # not parseable: libpq will say so; our mask is all we can do
        return masked
    password = params.get("password")
    if password in (None, MASK):
        return masked
    # A form the regex did not see (e.g. an unusual quoting): rebuild it without the password.
    params["password"] = MASK
    try:
        return make_conninfo("", **params)
    except Exception:
        return f"<connection string withheld: it holds a password>{MASK}"


def redact_text(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every connection-string password and every registered secret masked."""
    if not text:
        return text
    result = _mask_connection_strings(text)
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
    for secret in [*(s for s in extra if s and len(s) >= MIN_REGISTERED_LENGTH), *known]:
        if secret in result:
            result = result.replace(secret, MASK)
    return result


def redact_error(exc: BaseException) -> str:
    """The message of an exception, redacted (its type name when it has no message)."""
    return redact_text(str(exc).strip()) or type(exc).__name__


class _RedactingRecord(logging.LogRecord):
    """A log record whose message and traceback are redacted when they are rendered."""

    def getMessage(self) -> str:  # noqa: N802 - the logging module's name
        if self.exc_info and not self.exc_text:
            # Rendered here (redacted) so no formatter renders the raw traceback later.
            self.exc_text = redact_text("".join(traceback.format_exception(*self.exc_info)))
            self.exc_text = self.exc_text.rstrip("\n")
        if self.stack_info:
            self.stack_info = redact_text(self.stack_info)
        return redact_text(super().getMessage())


_installed = False


def _redacting_excepthook(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """An exception nobody caught (a bug) still shows its traceback, redacted."""
    sys.stderr.write(redact_text("".join(traceback.format_exception(kind, value, tb))))


def install_log_redaction() -> None:
    """Every log record created in this process from now on is redacted, and so is the
    traceback of an exception nobody catches (idempotent)."""
    global _installed  # noqa: PLW0603 - one process-wide switch
    if _installed:
        return
    sys.excepthook = _redacting_excepthook
    previous = logging.getLogRecordFactory()
    if previous is logging.LogRecord:
        logging.setLogRecordFactory(_RedactingRecord)
    else:  # someone installed a factory already: keep it, redact what it makes

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.__class__ = _RedactingRecord
            return record

        logging.setLogRecordFactory(factory)
    _installed = True
