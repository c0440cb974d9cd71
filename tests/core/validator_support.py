"""Shared by the token-validator tests: APIs registered in the emulator, validators for them, and tokens forged
from real emulator tokens the way an attacker would (who has a valid token, the published keys and no private
key), or signed by the emulator's own key with claims a test chooses (what Entra could sign but never does)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from appauth_core import TokenValidator
from appauth_core.testing import ApiRegistration, AzureEmulator

ROLES = ("Orders.Read", "Orders.Write")


def new_api(emulator: AzureEmulator, *, version: int = 1, **kwargs: Any) -> ApiRegistration:
    """An API of its own for one test (role assignments and cached tokens stay with it)."""
    return emulator.register_api(f"api://orders-{uuid.uuid4().hex[:8]}", roles=ROLES, version=version, **kwargs)


def validator_for(emulator: AzureEmulator, api: ApiRegistration, **kwargs: Any) -> TokenValidator:
    """A new validator (cold caches) for ``api``'s tokens from the emulator's default tenant."""
    audience = kwargs.pop("audience", [api.app_id_uri, api.app_id])
    if "allowed_tenants" not in kwargs:
        kwargs.setdefault("tenant_id", emulator.tenant_id)
    return TokenValidator(audience, authority=emulator.authority, **kwargs)


def app_token(emulator: AzureEmulator, api: ApiRegistration, **kwargs: Any) -> str:
    """A token for ``api`` as the token endpoint issues it to the emulator's default app."""
    return emulator.issue_token(api.app_id_uri, **kwargs).access_token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, claims, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(claims)), signature


def encode(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), signature))


def with_claims(token: str, **changes: Any) -> str:
    """``token`` with claims changed and its signature kept: a tampered token."""
    header, claims, signature = parts(token)
    claims.update(changes)
    return encode(header, claims, signature)


def with_header(token: str, **changes: Any) -> str:
    """``token`` with header fields changed and its signature kept (a forged ``kid``)."""
    header, claims, signature = parts(token)
    header.update(changes)
    return encode(header, claims, signature)


def respelled_signature(token: str) -> str:
    """``token`` with the unused low bits of its signature's last character set otherwise: the same signature
    bytes spelled another way (an RS256 signature of 256 bytes leaves 4 bits of the last character unused)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(token[-1])
    respelled = alphabet[(index & 0b110000) | ((index + 1) & 0b001111)]
    assert unb64(token.split(".")[2][:-1] + respelled) == unb64(token.split(".")[2])
    return token[:-1] + respelled


def alg_none(token: str) -> str:
    """``token``'s claims under ``alg: none`` and no signature (CVE-2015-9235's first form)."""
    header, claims, _ = parts(token)
    return encode({**header, "alg": "none"}, claims, "")


def published_public_key_pem(emulator: AzureEmulator, token: str) -> bytes:
    """The PEM of the published key that signed ``token``, read from the JWKS its discovery document names."""
    discovery = requests.get(
        f"{emulator.authority}{emulator.tenant_id}/v2.0/.well-known/openid-configuration",
        verify=str(emulator.ca_path),
        timeout=10,
    ).json()
    keys = requests.get(discovery["jwks_uri"], verify=str(emulator.ca_path), timeout=10).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = RSAAlgorithm.from_jwk(next(k for k in keys if k["kid"] == kid))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[union-attr]


def hs256_with_public_key(emulator: AzureEmulator, token: str) -> str:
    """``token``'s claims signed with HS256, the published RSA public key (PEM) as the HMAC secret: what a
    verifier that takes the algorithm from the token would accept (CVE-2015-9235's second form)."""
    header, claims, _ = parts(token)
    header = {**header, "alg": "HS256"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    secret = published_public_key_pem(emulator, token)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def signed_by_emulator(emulator: AzureEmulator, token: str, **changes: Any) -> str:
    """``token``'s claims changed and signed again with the emulator's signing key: a token the authority
    itself signed with these claims (not yet valid, another issuer ...)."""
    _, claims, _ = parts(token)
    claims.update(changes)
    for name in [name for name, value in changes.items() if value is None]:
        del claims[name]
    return emulator.issuer.sign(claims)
