"""A JWT in compact form, split and read (``read``), and its RS256 signature checked (``verify_rs256``).

Hand-written over PyJWT's ``decode`` on purpose: validating one token with PyJWT means parsing it three times
(``get_unverified_header`` for the ``kid``, the unverified claims to learn the version, then ``decode``), and
none of its claim checks can express Entra's issuer per token version and tenant, so every check but the
signature would be ours anyway. What is left is base64url, JSON and one ``cryptography`` call, the same call
PyJWT's ``RSAAlgorithm.verify`` makes. Only RS256 is ever accepted: the algorithm is fixed here, never
taken from the token, so ``alg: none`` and HS256 signed with the public key as the secret cannot pass.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import TokenValidationError
from ._claims import shown

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

MAX_TOKEN_CHARS = 32 * 1024
"""Entra's access tokens are 1-4 KiB (at most 200 groups, then an overage claim); longer is refused unread."""
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # alg none: no signature


@dataclass(frozen=True, slots=True)
class Jws:
    """A token's parts: the header and claims read, the signed bytes and the signature."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def read(token: str) -> Jws:
    """``token``'s header, claims and signature, or ``TokenValidationError`` saying why it is not a JWT
    signed with RS256 that names its key (``kid``)."""
    if not isinstance(token, str):
        raise TokenValidationError(f"the token is a {type(token).__name__}, not a string")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenValidationError(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    if _COMPACT.fullmatch(token) is None:
        raise TokenValidationError("the token is not a JWT (three base64url parts separated by dots)")
    header_part, claims_part, signature_part = token.split(".")
    header = _json_part(header_part, "header")
    algorithm = header.get("alg")
    if algorithm != "RS256":
        raise TokenValidationError(f"the token is signed with {shown(algorithm)}: only RS256 is accepted")
    if "crit" in header:
        raise TokenValidationError("the token's header names critical extensions ('crit'), which are not supported")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise TokenValidationError("the token's header names no signing key ('kid')")
    claims = _json_part(claims_part, "claims")
    signature = _decode(signature_part, "signature")
    if urlsafe_b64encode(signature).rstrip(b"=") != signature_part.encode("ascii"):
        # Unused low bits set in the last character: the same signature spelled another way.
        raise TokenValidationError("the token's signature is not in canonical base64url")
    return Jws(header, claims, f"{header_part}.{claims_part}".encode("ascii"), signature)


def verify_rs256(jws: Jws, key: RSAPublicKey) -> None:
    """``TokenValidationError`` unless ``key`` made ``jws.signature`` over its header and claims (RS256)."""
    # cryptography is imported at the first signature, not with appauth_core: most processes never check one.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise TokenValidationError(
            f"the signature does not verify with the published key {jws.header['kid']!r} (the token was altered, "
            "or signed by someone else)"
        ) from None


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(part, what))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: "[[[[..." nested
        raise TokenValidationError(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenValidationError(f"the token's {what} is not a JSON object")
    return value


def _decode(part: str, what: str) -> bytes:
    try:
        return urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenValidationError(f"the token's {what} is not base64url") from None
