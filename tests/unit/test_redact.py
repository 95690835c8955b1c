"""Connection strings with the password masked, however malformed the URL (libpq and redis-py
quote a URL they refuse back in their errors)."""

from __future__ import annotations

import pytest

from claire.redact import redact_text, redact_url, register_url_secrets, url_password


@pytest.mark.parametrize(
    ("url", "password", "masked"),
    [
        ("postgresql://claire:pw1234@db:5432/x", "pw1234", "postgresql://claire:***@db:5432/x"),
        ("postgresql://claire:pa@ss@db/x", "pa@ss", "postgresql://claire:***@db/x"),
        ("postgresql://claire:S3cret PW@db/x", "S3cret PW", "postgresql://claire:***@db/x"),
        ("postgresql://u:q\"uo'te@[::1/x", "q\"uo'te", "postgresql://u:***@[::1/x"),
        ("redis://:S3cret PW@[bad/0", "S3cret PW", "redis://:***@[bad/0"),
        ("postgresql://claire@db/x", None, "postgresql://claire@db/x"),
    ],
)
def test_the_password_of_a_whole_url_is_found_and_masked(
    url: str, password: str | None, masked: str
) -> None:
    assert url_password(url) == password
    assert redact_url(url) == masked


def test_a_registered_password_is_masked_wherever_a_driver_quotes_it() -> None:
    register_url_secrets("postgresql://u:Sp4ce d-PW@[::1/db")
    message = 'unexpected spaces found in "Sp4ce d-PW", use percent-encoded spaces (%20) instead'
    assert "Sp4ce" not in redact_text(message)


def test_a_password_with_an_unencoded_at_sign_is_masked_where_a_driver_splits_it() -> None:
    register_url_secrets("postgresql://u:S3cret@PW-xyz@127.0.0.1:5999/db")
    message = "failed to resolve host 'PW-xyz@127.0.0.1': [Errno -2] Name or service not known"
    assert "PW-xyz" not in redact_text(message)
