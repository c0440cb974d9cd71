"""The one azure-core credential adapter: ``CredentialAdapter`` answers both of azure-core's credential
protocols (``TokenCredential.get_token`` and ``SupportsTokenInfo.get_token_info``) from one method,
``_token_info``, and ``ask`` puts a request to any azure-core credential, whichever protocol it speaks.
The credentials appauth hands to Azure SDK clients are thin on it: the Key Vault scope guard
(``KeyVaultScopedCredential``), the provider that renews a refused token (``RenewingCredential``) and a
token source as a credential (``TokenSourceCredential``)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11 on


def request_options(claims: str | None, tenant_id: str | None, enable_cae: bool) -> TokenRequestOptions:
    """``get_token``'s keyword arguments as ``get_token_info``'s options (only those given)."""
    options: TokenRequestOptions = {}
    if claims:
        options["claims"] = claims
    if tenant_id:
        options["tenant_id"] = tenant_id
    if enable_cae:
        options["enable_cae"] = True
    return options


def ask(credential: Any, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
    """``credential``'s token for ``scopes``: its ``get_token_info`` when it has one, else its ``get_token``
    asked as azure-core would ask it."""
    get_token_info = getattr(credential, "get_token_info", None)
    if get_token_info is not None:
        info: AccessTokenInfo = get_token_info(*scopes, options=options)
        return info
    token: AccessToken = credential.get_token(
        *scopes,
        claims=options.get("claims"),
        tenant_id=options.get("tenant_id"),
        enable_cae=options.get("enable_cae", False),
    )
    return AccessTokenInfo(token.token, token.expires_on)


class CredentialAdapter:
    """An azure-core credential whose subclass implements ``_token_info(scopes, options)`` only. ``close``
    releases nothing: what a subclass wraps belongs to the app."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        info = self._token_info(scopes, request_options(claims, tenant_id, enable_cae))
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        return self._token_info(scopes, options or {})

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _token_info(self, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
        raise NotImplementedError
