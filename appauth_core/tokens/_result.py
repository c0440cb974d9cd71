"""What the provider hands back: the token with its expiry, and who it was issued to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ._token_claims import fingerprint, unverified_claims


@dataclass(frozen=True)
class Principal:
    """Who the last token was for, read from its claims (as .NET's ``PrincipalUsed``)."""

    type: str  # "App" or "User"
    app_id: str | None = None
    tenant_id: str | None = None
    user_principal_name: str | None = None
    object_id: str | None = None
    is_authenticated: bool = True

    @classmethod
    def from_token(cls, access_token: str, *, fallback_app_id: str | None = None) -> Principal:
        claims = unverified_claims(access_token)
        upn = _first(claims, "upn", "email", "unique_name")
        return cls(
            type="User" if upn else "App",
            app_id=_first(claims, "appid", "azp") or fallback_app_id,
            tenant_id=_first(claims, "tid"),
            user_principal_name=upn,
            object_id=_first(claims, "oid"),
        )

    def __str__(self) -> str:
        parts = [f"IsAuthenticated:{self.is_authenticated}", f"Type:{self.type}"]
        if self.user_principal_name:
            parts.append(f"UserPrincipalName:{self.user_principal_name}")
        if self.app_id:
            parts.append(f"AppId:{self.app_id}")
        if self.tenant_id:
            parts.append(f"TenantId:{self.tenant_id}")
        return " ".join(parts)


def _first(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True)
class AppAuthenticationResult:
    """An access token and what a caller needs to use it. The repr shows a fingerprint, never the token."""

    access_token: str = field(repr=False)
    expires_on: dt.datetime  # aware, UTC
    resource: str
    token_type: str = "Bearer"
    tenant_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"AppAuthenticationResult(access_token={fingerprint(self.access_token)!r}, "
            f"expires_on={self.expires_on.isoformat()!r}, resource={self.resource!r}, "
            f"token_type={self.token_type!r}, tenant_id={self.tenant_id!r})"
        )
