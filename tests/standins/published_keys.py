"""Checking the emulator's tokens as a resource server would: the OpenID discovery document and its JWKS
fetched over HTTPS (trusting only the emulator's CA), then PyJWT with the published key, never the
emulator's own issuer object."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
import requests


class Reachable(Protocol):
    """An emulator as its clients know it: an ``AzureEmulator``, or ``Published`` for one in another process."""

    @property
    def authority(self) -> str: ...

    @property
    def ca_path(self) -> Path: ...


@dataclass(frozen=True)
class Published:
    """An emulator running in another process, from its env file."""

    authority: str
    ca_path: Path


def discovery(emulator: Reachable, tenant: str, *, version: int) -> dict[str, Any]:
    """``{authority}{tenant}[/v2.0]/.well-known/openid-configuration``, as published."""
    path = "v2.0/.well-known/openid-configuration" if version == 2 else ".well-known/openid-configuration"
    with requests.Session() as session:
        session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify=
        response = session.get(f"{emulator.authority}{tenant}/{path}", verify=str(emulator.ca_path), timeout=10)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def jwks_client(emulator: Reachable, jwks_uri: str) -> jwt.PyJWKClient:
    """A fresh PyJWKClient (no cached key set) for the published ``jwks_uri``."""
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    return jwt.PyJWKClient(jwks_uri, cache_jwk_set=False, ssl_context=context)


def verified_claims(
    emulator: Reachable, token: str, *, audience: str, version: int, tenant: str | None = None
) -> dict[str, Any]:
    """The claims of ``token`` once its signature (by a key from the published JWKS), audience, lifetime and
    issuer (the discovery document's, ``{tenantid}`` filled in for a multi-tenant document) check out.
    ``tenant``: the discovery document to use (default: the token's own ``tid``)."""
    tid = jwt.decode(token, options={"verify_signature": False})["tid"]
    document = discovery(emulator, tenant or tid, version=version)
    issuer = document["issuer"].replace("{tenantid}", tid)
    key = jwks_client(emulator, document["jwks_uri"]).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "nbf", "iat", "aud", "iss", "tid", "oid", "sub", "ver"]},
    )
    return claims
