"""Reading a token's claims (who it is for, when it expires) without trusting them, and naming a token
in logs without showing it."""

from __future__ import annotations

import hashlib
from typing import Any

import jwt


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, or ``{}`` for an opaque token.

    Not verified: the provider only reads its own tokens to report who signed in (``Principal``); the
    service receiving the token does the verifying.
    """
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token: what reprs and logs show instead of it."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]
