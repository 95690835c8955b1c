"""Bearer tokens: POST /events needs CLAIRE_WRITE_TOKEN; reads need CLAIRE_READ_TOKEN if set.

The write token is accepted for reads too. /health, /health/live, /health/ready, /metrics and
/docs stay open so probes and scrapers work without secrets; the health endpoints then say only
ok / degraded / down per component, and give details only to a caller with the read token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from claire.api.errors import ApiError
from claire.api.services import Services, services
from claire.config import secret

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def _presented(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        header = request.headers.get("authorization")
        reason = "malformed Authorization header" if header else "no Authorization header"
        raise ApiError(
            401,
            f"authentication required: {reason} (send 'Authorization: Bearer <token>')",
            headers=CHALLENGE,
        )
    return credentials.credentials


def require_read(
    request: Request, credentials: Credentials, svc: Annotated[Services, Depends(services)]
) -> None:
    read_token = secret(svc.settings.read_token)
    if not read_token:
        return
    token = _presented(request, credentials)
    if not (_matches(token, read_token) or _matches(token, secret(svc.settings.write_token))):
        raise ApiError(401, "invalid bearer token for reading", headers=CHALLENGE)


def require_write(
    request: Request, credentials: Credentials, svc: Annotated[Services, Depends(services)]
) -> None:
    write_token = secret(svc.settings.write_token)
    if not write_token:
        raise ApiError(
            403,
            "POST /events is disabled on this server: it has no write token "
            "(set CLAIRE_WRITE_TOKEN to enable it, or publish to the Redis stream)",
        )
    token = _presented(request, credentials)
    if not _matches(token, write_token):
        raise ApiError(401, "invalid bearer token for writing", headers=CHALLENGE)


def may_read_details(request: Request, svc: Annotated[Services, Depends(services)]) -> bool:
    """Whether the caller presented the read (or write) token: health details need it. With
    no read token configured nobody gets details over HTTP (they are in the server's log).

    Read from the header directly, not through `bearer`: the health endpoints need no
    credentials, and OpenAPI must not say they do."""
    read_token = secret(svc.settings.read_token)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not read_token or scheme.lower() != "bearer" or not token:
        return False
    token = token.strip()
    return _matches(token, read_token) or _matches(token, secret(svc.settings.write_token))


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
