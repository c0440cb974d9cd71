"""Which resources a Key Vault token may be for: the guard on the credential every Key Vault client gets.

``SecretClient`` asks its credential for whatever scope the vault's first 401 names (its ``scope=``, else
its ``resource=`` + ``/.default``). The SDK's own check, that the vault's host ends with ``"." +`` the
resource's host, is off for loopback vaults (the emulator's challenge names ``vault.azure.net``, which can
never be a suffix of ``127.0.0.1``), and where it is on it lets ``https://azure.net`` through for
``myvault.vault.azure.net`` and ``https://contoso.com`` for an allowed ``kv.contoso.com``. So whatever
answers at an address the app reads secrets from could ask for an Azure Resource Manager or Graph token
and receive it.

``KeyVaultScopedCredential`` wraps the credential of both Key Vault clients (``KeyVaultSecrets``' and the
Key Vault certificate source's) and refuses every scope that is not a Key Vault resource, before any token
is requested: Azure's public and sovereign clouds' (``KEY_VAULT_RESOURCES``) and at most one the app
configures (Azure Stack Hub, a private cloud). azure-identity holds the same rule for its challenge policy:
the challenge's scope must be a Key Vault scope.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ..errors import VaultResourceNotAllowedError
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


class KeyVaultScopedCredential:
    """``credential`` as one vault's Key Vault client credential: tokens for Key Vault's resources only
    (``KEY_VAULT_RESOURCES`` and ``configured``, as made by ``key_vault_resource``), whatever that vault's
    challenge asks for. Any other scope raises ``VaultResourceNotAllowedError``, naming ``vault_url`` and the
    resource asked for, without calling ``credential``; ``how_to_allow`` ends its message (what the app
    sets to accept another resource). Scopes are compared without ``/.default``, a trailing slash and case.
    """

    def __init__(self, credential: Any, *, vault_url: str, configured: str | None = None, how_to_allow: str) -> None:
        self._credential = credential
        self._vault_url = vault_url
        self._resources = (*KEY_VAULT_RESOURCES, configured) if configured else KEY_VAULT_RESOURCES
        self._allowed = frozenset(resource.lower() for resource in self._resources)
        self._how_to_allow = how_to_allow

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self._check(scopes)
        token: AccessToken = self._credential.get_token(
            *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
        )
        return token

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        self._check(scopes)
        get_token_info = getattr(self._credential, "get_token_info", None)
        if get_token_info is not None:
            info: AccessTokenInfo = get_token_info(*scopes, options=options)
            return info
        # A credential with get_token only (azure-core's TokenCredential), asked as azure-core would ask it.
        options = options or {}
        token = self._credential.get_token(
            *scopes,
            claims=options.get("claims"),
            tenant_id=options.get("tenant_id"),
            enable_cae=options.get("enable_cae", False),
        )
        return AccessTokenInfo(token.token, token.expires_on)

    def close(self) -> None:
        """The wrapped credential belongs to the app (or to the client cache): it is not closed here."""

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
