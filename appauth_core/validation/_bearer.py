"""What a web framework needs around ``TokenValidator``: the token out of the ``Authorization`` header
(``bearer_token``) and the answer to a refused one (``error_response``), per RFC 6750.

The answer says what kind of failure it was and nothing more: ``WWW-Authenticate: Bearer`` when there was no
bearer token (section 3.1: no error code then), ``Bearer error="invalid_token"`` (401) for a token that is not
valid here, ``Bearer error="insufficient_scope"`` (403) for a valid one lacking a role or scope, and 503 with
``Retry-After`` when the authority's keys cannot be had. Which check failed (``error.reason``) is for the log.
"""

from __future__ import annotations

from typing import Any

from ..errors import InsufficientScopeError, SigningKeysUnavailableError, TokenValidationError
from ._jws import MAX_TOKEN_CHARS

RETRY_AFTER_SECONDS = 30  # how soon a client may try again after a 503 (the metadata is tried again then)

_DESCRIPTIONS = {
    None: "This API requires a bearer token (Authorization: Bearer <token>).",
    "invalid_token": "The bearer token is not valid for this API.",
    "insufficient_scope": "The bearer token lacks an app role or scope this request requires.",
}


def bearer_token(authorization: str | None) -> str:
    """The token in an ``Authorization`` header's value (``Bearer <token>``, the scheme in any case);
    ``TokenValidationError`` (401, no error code) for a missing header, another scheme or no token."""
    if not authorization:
        raise TokenValidationError("the request has no Authorization header", error=None)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenValidationError(f"the Authorization header's scheme is {scheme[:20]!r}, not Bearer", error=None)
    token = token.strip()
    if not token or " " in token or len(token) > MAX_TOKEN_CHARS:
        raise TokenValidationError("the Authorization header holds no single bearer token", error=None)
    return token


def error_response(error: TokenValidationError) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers and small JSON body to answer ``error`` with (see the module docstring)."""
    if isinstance(error, SigningKeysUnavailableError):
        body = {
            "error": "temporarily_unavailable",
            "error_description": "Bearer tokens cannot be checked right now; try again later.",
        }
        return 503, {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}, body
    code = "insufficient_scope" if isinstance(error, InsufficientScopeError) else error.error
    body = {"error": code or "unauthorized", "error_description": _DESCRIPTIONS.get(code, _DESCRIPTIONS[None])}
    return error.status, {"WWW-Authenticate": error.www_authenticate, "Cache-Control": "no-store"}, body
