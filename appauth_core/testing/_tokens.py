"""Access tokens as Entra ID issues them to apps and managed identities: RS256 JWTs with v1 claims.

Real app-only tokens for Key Vault and Storage are v1 (``iss https://sts.windows.net/{tid}/``,
``ver 1.0``) even when asked for on the v2 endpoint; Azurite refuses v2 issuers, so v1 it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._directory import b64url, self_signed


def audience_for_resource(resource: str) -> str:
    """Entra echoes the resource exactly as asked: ``https://vault.azure.net/`` (with the slash) yields a
    token Key Vault refuses with AKV10022 (seen in the wild: Azure/go-autorest#525), so we do the same."""
    return resource


def resource_from_scope(scope: str) -> str | None:
    """``https://vault.azure.net/.default`` -> ``https://vault.azure.net``; None if not a /.default scope.

    ``https://management.azure.com//.default`` (double slash) asks for the resource *with* its slash.
    """
    if not scope.endswith("/.default"):
        return None
    return scope[: -len("/.default")]


def issuer_for(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    issued_at: int
    expires_on: int

    @property
    def expires_in(self) -> int:
        return self.expires_on - self.issued_at


TokenListener = Callable[[dict[str, Any], IssuedToken], None]
"""Called with the claims and the token each time the emulator issues an access token."""


class InvalidToken(Exception):
    """The bearer token was not issued by this emulator or was altered."""


class TokenIssuer:
    """Signs and verifies the emulator's access tokens with one RSA key, published as JWKS."""

    def __init__(self, lifetime: int = 3599) -> None:
        self.lifetime = lifetime
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert = self_signed(
            self._key, "appauth emulator token signing", backdate=dt.timedelta(days=1), lifetime=dt.timedelta(days=365)
        )
        self.kid = b64url(self._cert.fingerprint(hashes.SHA1()))  # noqa: S303 - Entra's kid is the x5t
        self.listeners: list[TokenListener] = []

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        der = self._cert.public_bytes(serialization.Encoding.DER)
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                    "x5c": [base64.b64encode(der).decode()],
                }
            ]
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    def issue(
        self,
        *,
        tenant_id: str,
        audience: str,
        app_id: str,
        object_id: str,
        appidacr: str,
        lifetime: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> IssuedToken:
        now = int(time.time())
        expires_on = now + (self.lifetime if lifetime is None else lifetime)
        issuer = issuer_for(tenant_id)
        claims = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "aio": b64url(secrets.token_bytes(24)),
            "appid": app_id,
            "appidacr": appidacr,
            "idp": issuer,
            "idtyp": "app",
            "oid": object_id,
            "rh": "0." + b64url(secrets.token_bytes(32)) + ".",
            "sub": object_id,
            "tid": tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
            **(extra or {}),
        }
        issued = IssuedToken(self.sign(claims), now, expires_on)
        for listener in list(self.listeners):
            listener(claims, issued)
        return issued

    def verify(self, token: str) -> dict[str, Any]:
        """Signature only; the caller checks audience, tenant and lifetime to answer with its own errors."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims
