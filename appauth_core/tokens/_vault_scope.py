"""Which resources a Key Vault token may be for: ``KeyVaultScopedCredential``, the guard on the credential of
both Key Vault clients (``KeyVaultSecrets``' and the Key Vault certificate source's). It refuses every scope
that is not a Key Vault resource, before any token is requested: Azure's public and sovereign clouds'
(``KEY_VAULT_RESOURCES``) and at most one the app configures (Azure Stack Hub, a private cloud). Why the SDK's
own check is not enough: docs/design.md, "The Key Vault resource guard".
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessTokenInfo, TokenRequestOptions

from ..errors import VaultResourceNotAllowedError
from ._credential_adapter import CredentialAdapter, ask
from ._vault_hosts import PUBLIC_VAULT_SUFFIXES, VaultOrigin

KEY_VAULT_RESOURCES = tuple(f"https://{suffix}" for suffix in PUBLIC_VAULT_SUFFIXES)
"""Key Vault's resource (token audience) in each cloud: ``https://`` and the cloud's vault DNS suffix.
Managed HSM's (``https://managedhsm.azure.net`` ...) is not among them: an HSM keeps keys, not secrets,
and these clients only read secrets."""

_DEFAULT_SCOPE = "/.default"
_SHOWN = 200  # characters of a challenge's resource an error message quotes: the server chose the text


def key_vault_resource(value: str, *, setting: str = "key_vault_resource") -> str:
    """The form a configured Key Vault resource is compared in: ``https://host[:port]``, lower case, no
    trailing slash. ``ValueError`` naming ``setting`` (where the value came from) for anything but an https
    URL without path, query or credentials."""
    try:
        return VaultOrigin.parse(value.strip()).url.rstrip("/")
    except (ValueError, AttributeError) as exc:  # AttributeError: not a string
        raise ValueError(
            f"{setting} {value!r} is not a Key Vault resource ({exc}); e.g. 'https://vault.local.azurestack.external'"
        ) from None


class KeyVaultScopedCredential(CredentialAdapter):
    """``credential`` (any azure-core credential) as one vault's Key Vault client credential: tokens for Key
    Vault's resources only (``KEY_VAULT_RESOURCES`` and ``configured``, as made by ``key_vault_resource``),
    whatever that vault's challenge asks for. Any other scope raises ``VaultResourceNotAllowedError``, naming
    ``vault_url`` and the resource asked for, without calling ``credential``; ``how_to_allow`` ends its message
    (what the app sets to accept another resource). Scopes are compared without ``/.default``, a trailing
    slash and case. ``close`` leaves ``credential`` open: it belongs to the app (or to the client cache).
    """

    def __init__(self, credential: Any, *, vault_url: str, configured: str | None = None, how_to_allow: str) -> None:
        self._credential = credential
        self._vault_url = vault_url
        self._resources = (*KEY_VAULT_RESOURCES, configured) if configured else KEY_VAULT_RESOURCES
        self._allowed = frozenset(resource.lower() for resource in self._resources)
        self._how_to_allow = how_to_allow

    def _token_info(self, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
        self._check(scopes)
        return ask(self._credential, scopes, options)

    def _check(self, scopes: tuple[str, ...]) -> None:
        for scope in scopes or ("",):
            resource = scope.removesuffix(_DEFAULT_SCOPE)
            if resource.removesuffix("/").lower() not in self._allowed:
                raise self._refusal(resource)

    def _refusal(self, resource: str) -> VaultResourceNotAllowedError:
        shown = resource if len(resource) <= _SHOWN else resource[:_SHOWN] + "..."
        return VaultResourceNotAllowedError(
            f"vault {self._vault_url} asked (in its 401 challenge) for a token for {shown!r}, which is not a "
            f"Key Vault resource, so no token was requested. Key Vault tokens are issued for "
            f"{', '.join(self._resources)} only: a server that asks for another audience at a vault's address "
            f"wants a token it could use elsewhere. If {shown!r} really is your Key Vault's resource (Azure "
            f"Stack Hub, a private cloud), {self._how_to_allow}.",
            vault_url=self._vault_url,
            challenge_resource=shown,
        )
