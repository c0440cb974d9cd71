"""Reading a token's claims (who it is for, when it expires) without trusting them, and naming a token
in logs without showing it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, or ``{}`` for an opaque token.

    Not verified: the provider only reads its own tokens to report who signed in (``Principal``); the
    service receiving the token does the verifying.
    """
    # Decoded by hand: PyJWT (and the cryptography it pulls in) would add ~40 ms to importing appauth for
    # what is base64 and JSON when nothing is verified.
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token: what reprs and logs show instead of it."""
    # surrogatepass: a str from anywhere (an environment variable, a fuzzer) has a fingerprint, never an error.
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]
