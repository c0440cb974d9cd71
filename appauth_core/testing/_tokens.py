"""Access tokens as Entra ID issues them to apps, managed identities and users: RS256 JWTs, v1 claims by
default, v2 claims for an API that accepts v2 tokens (``accessTokenAcceptedVersion`` 2).

Real app-only tokens for Key Vault and Storage are v1 (``iss https://sts.windows.net/{tid}/``,
``ver 1.0``) even when asked for on the v2 endpoint; Azurite refuses v2 issuers, so v1 it is. v2 tokens
name the client in ``azp``/``azpacr`` instead of ``appid``/``appidacr`` and are issued by
``{authority}{tid}/v2.0``, what the emulator's v2 discovery document publishes.

The signing keys rotate when a test says so (``rotate``): every key not yet retired is published in the
JWKS, the newest signs, and ``verify`` accepts a token signed by any published key.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography import x509
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
    """The v1 issuer: Entra's real string, whatever host the emulator listens on."""
    return f"https://sts.windows.net/{tenant_id}/"


DEFAULT_AUTHORITY = "https://login.microsoftonline.com/"


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


@dataclass(frozen=True)
class _SigningKey:
    key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    kid: str

    @classmethod
    def generate(cls) -> _SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = self_signed(
            key, "appauth emulator token signing", backdate=dt.timedelta(days=1), lifetime=dt.timedelta(days=365)
        )
        return cls(key, cert, b64url(cert.fingerprint(hashes.SHA1())))  # noqa: S303 - Entra's kid is the x5t

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "x5c": [base64.b64encode(der).decode()],
        }


class TokenIssuer:
    """Signs the emulator's access tokens with its newest RSA key and verifies them with any published one.

    ``authority``: returns the emulator's Entra base URL (with its trailing slash), the host of v2 issuers.
    """

    def __init__(self, lifetime: int = 3599, authority: Callable[[], str] | None = None) -> None:
        self.lifetime = lifetime
        self._authority = authority or (lambda: DEFAULT_AUTHORITY)
        self._lock = threading.Lock()
        self._keys: list[_SigningKey] = [_SigningKey.generate()]  # oldest first; the last one signs
        self.listeners: list[TokenListener] = []

    # --- keys -------------------------------------------------------------------------------------

    @property
    def kid(self) -> str:
        """The key id (``kid``, also the ``x5t``) of the key that signs from now on."""
        with self._lock:
            return self._keys[-1].kid

    @property
    def kids(self) -> tuple[str, ...]:
        """Every published key id, oldest first."""
        with self._lock:
            return tuple(k.kid for k in self._keys)

    def rotate(self) -> str:
        """Publish a new key and sign with it from now on; the older keys stay published. Returns its kid."""
        new = _SigningKey.generate()
        with self._lock:
            self._keys.append(new)
        return new.kid

    def retire_old(self) -> tuple[str, ...]:
        """Stop publishing (and accepting) every key but the one that signs; returns the retired kids."""
        with self._lock:
            retired, self._keys = self._keys[:-1], self._keys[-1:]
        return tuple(k.kid for k in retired)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys)
        return {"keys": [k.jwk() for k in keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        with self._lock:
            key = self._keys[-1]
        return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": key.kid, "x5t": key.kid})

    # --- tokens -----------------------------------------------------------------------------------

    def v2_issuer(self, tenant_id: str) -> str:
        return f"{self._authority()}{tenant_id}/v2.0"

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
        version: Literal[1, 2] = 1,
        roles: tuple[str, ...] = (),
    ) -> IssuedToken:
        """An app-only token (``idtyp app``) unless ``extra`` says otherwise; ``roles`` become the ``roles``
        claim (absent when empty); ``version`` 2 gives v2 claims (``azp``, ``azpacr``, ``ver 2.0``, the v2
        issuer). Every listener is told."""
        now = int(time.time())
        expires_on = now + (self.lifetime if lifetime is None else lifetime)
        issuer = issuer_for(tenant_id)
        claims: dict[str, Any] = {
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
        if roles:
            claims["roles"] = list(roles)
        if version == 2:
            claims = _as_v2(claims, self.v2_issuer(tenant_id))
        issued = IssuedToken(self.sign(claims), now, expires_on)
        for listener in list(self.listeners):
            listener(claims, issued)
        return issued

    def verify(self, token: str) -> dict[str, Any]:
        """Signature only, by the published key its ``kid`` names; the caller checks audience, tenant and
        lifetime to answer with its own errors."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        with self._lock:
            key = next((k for k in self._keys if k.kid == kid), None)
        if key is None:
            raise InvalidToken(f"no published signing key has the kid {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims


def _as_v2(claims: dict[str, Any], issuer: str) -> dict[str, Any]:
    """v1 claims renamed as a v2 token has them: ``azp``/``azpacr`` for ``appid``/``appidacr``; ``idp`` only
    where it differs from the issuer (a federated user's home); no ``unique_name``."""
    v2 = {name: value for name, value in claims.items() if name not in ("appid", "appidacr", "unique_name", "idp")}
    v2.update(iss=issuer, azp=claims["appid"], azpacr=claims["appidacr"], ver="2.0")
    if claims.get("idp") not in (None, claims["iss"]):
        v2["idp"] = claims["idp"]
    return v2
