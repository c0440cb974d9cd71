"""``Caller``: who called, read from a validated Entra ID access token. It holds claims, never the token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Version = Literal["1.0", "2.0"]
_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a request whose bearer token ``TokenValidator`` accepted.

    - ``client_id``: the calling application's client (app) id: ``appid`` in v1 tokens, ``azp`` in v2.
    - ``tenant_id``: the tenant that issued the token (``tid``).
    - ``object_id``: ``oid``, the service principal or managed identity (app-only) or the user (delegated);
      None if the token has none.
    - ``roles``: the app roles granted to the caller (``roles``), ``scopes`` the delegated scopes (``scp``,
      space-separated in the token); each empty when the token has none.
    - ``version``: the token's format, ``"1.0"`` or ``"2.0"`` (``ver``).
    - ``is_app``: an app-only token (client credentials, managed identity) rather than a user's delegated
      one: ``idtyp`` is ``"app"``, or, in tokens without ``idtyp``, there is no ``scp`` and ``oid`` is ``sub``.
    - ``subject``: ``sub``, stable per caller and API (for a user: pairwise, never the object id).
    - ``claims``: every claim of the token, read-only (``upn``, ``name``, ``appidacr`` ...).

    Its repr shows the client id, tenant, roles, scopes and whether it is an app; it never held the token."""

    client_id: str
    tenant_id: str
    object_id: str | None
    roles: frozenset[str]
    scopes: frozenset[str]
    version: Version
    is_app: bool
    subject: str
    claims: Mapping[str, Any] = field(default_factory=lambda: _NO_CLAIMS, compare=False, hash=False)

    def __repr__(self) -> str:
        return (
            f"Caller(client_id={self.client_id!r}, tenant_id={self.tenant_id!r}, roles={sorted(self.roles)!r}, "
            f"scopes={sorted(self.scopes)!r}, is_app={self.is_app!r})"
        )
