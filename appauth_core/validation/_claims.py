"""The checks of an Entra ID access token's claims, and the ``Caller`` they describe.

- ``ver`` says the format: ``"1.0"`` (``appid``, issuer ``https://sts.windows.net/{tid}/``) or ``"2.0"``
  (``azp``, issuer ``{authority}{tid}/v2.0``). The issuer must be exactly the one the authority's discovery
  document for that version publishes, ``{tenantid}`` replaced by the token's ``tid`` in a multi-tenant
  document (Microsoft.IdentityModel's ``AadIssuerValidator`` does the same), and ``tid`` must be an allowed
  tenant: a key set shared by every tenant plus a missing issuer or tenant check accepts any tenant's tokens.
- ``aud`` is one of the configured audiences; ``exp`` (required) and ``nbf`` hold, give or take the leeway.
- The caller's client id (``appid`` / ``azp``) is required, and in the allowed list when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import TokenValidationError
from ._arguments import Arguments
from ._caller import Caller, Version

_VERSIONS: Mapping[Any, Version] = {"1.0": "1.0", "2.0": "2.0"}
SHOWN = 80  # characters of an untrusted value in a refusal's reason (which is logged on every refusal)


def shown(value: Any) -> str:
    """``repr(value)``, cut to ``SHOWN`` characters: the claims are checked before the signature, so a forged
    token chooses them, and a reason must not carry kilobytes of them into the log."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def version_of(claims: Mapping[str, Any]) -> Version:
    version = _VERSIONS.get(claims.get("ver"))
    if version is None:
        raise TokenValidationError(f"the token's version ('ver') is {shown(claims.get('ver'))}, not '1.0' or '2.0'")
    return version


def check(
    claims: Mapping[str, Any], version: Version, arguments: Arguments, issuer: Callable[[Version], str], now: float
) -> float:
    """``TokenValidationError`` naming the first claim that fails; else the time after which the token (with
    the leeway) is no longer accepted. Cheap checks first: a token for another API or tenant costs no fetch."""
    tenant = claims.get("tid")
    if not isinstance(tenant, str):
        raise TokenValidationError("the token has no tenant ('tid')")
    if arguments.tenants is not None and tenant not in arguments.tenants:
        raise TokenValidationError(f"the token was issued by the tenant {shown(tenant)}, not an allowed tenant")
    audience = claims.get("aud")
    if not _audience_allowed(audience, arguments.audiences):
        raise TokenValidationError(f"the token is for the audience {shown(audience)}, not this API's")
    leeway = arguments.leeway
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        raise TokenValidationError("the token has no expiry time ('exp')")
    if now > expires + leeway:
        raise TokenValidationError(f"the token expired {int(now - expires)} s ago (leeway {leeway:g} s)")
    not_before = claims.get("nbf")
    if not_before is not None:
        if not isinstance(not_before, (int, float)) or isinstance(not_before, bool):
            raise TokenValidationError("the token's 'nbf' is not a time")
        if now + leeway < not_before:
            raise TokenValidationError(f"the token is not valid for another {int(not_before - now)} s ('nbf')")
    client = client_id_of(claims, version)
    if arguments.client_ids is not None and client not in arguments.client_ids:
        raise TokenValidationError(f"the calling application {shown(client)} is not one of the allowed client ids")
    expected = issuer(version).replace("{tenantid}", tenant)
    if claims.get("iss") != expected:
        raise TokenValidationError(
            f"the token's issuer is {shown(claims.get('iss'))}, not {expected!r} (the issuer of v{version} tokens of "
            "its tenant, from the authority's OpenID configuration)"
        )
    return float(expires + leeway)


def client_id_of(claims: Mapping[str, Any], version: Version) -> str:
    name = "appid" if version == "1.0" else "azp"
    client = claims.get(name)
    if not isinstance(client, str) or not client:
        raise TokenValidationError(f"the v{version} token names no calling application ('{name}')")
    return client


def caller_of(claims: dict[str, Any], version: Version) -> Caller:
    """Who called, read from claims that passed ``check``."""
    scopes = claims.get("scp")
    scope_names = frozenset(scopes.split()) if isinstance(scopes, str) else frozenset()
    roles = claims.get("roles")
    role_names = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
    object_id = claims.get("oid") if isinstance(claims.get("oid"), str) else None
    subject = claims.get("sub") if isinstance(claims.get("sub"), str) else ""
    kind = claims.get("idtyp")
    # idtyp is an optional claim (the emulator and newer tokens carry it); without it Microsoft's own rule:
    # an app-only token has no scp, and its oid is its sub (a user's sub is pairwise).
    is_app = kind == "app" if kind is not None else "scp" not in claims and object_id == subject != ""
    return Caller(
        client_id=client_id_of(claims, version),
        tenant_id=claims["tid"],
        object_id=object_id,
        roles=role_names,
        scopes=scope_names,
        version=version,
        is_app=is_app,
        subject=str(subject),
        claims=MappingProxyType(claims),
    )


def _audience_allowed(audience: Any, allowed: frozenset[str]) -> bool:
    if isinstance(audience, str):
        return audience in allowed
    return isinstance(audience, list) and any(isinstance(a, str) and a in allowed for a in audience)
