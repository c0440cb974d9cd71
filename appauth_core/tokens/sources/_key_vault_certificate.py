"""Service principal whose certificate is kept in Key Vault (``RunAs=App;AppId=...;
KeyVaultCertificateSecretIdentifier=https://<vault>.vault.azure.net/secrets/<name>[/<version>][;TenantId=...]``).

Why: the certificate never sits on disk. Another identity (a managed identity in Azure, the developer's
sign-in locally: any ``TokenSource``) reads the certificate's secret from Key Vault once; the app then
signs in with it. As .NET's ``KeyVaultClient``: the secret must hold a password-less PFX
(``application/x-pkcs12``, which is what Key Vault keeps for a certificate created as PKCS#12), and the
tenant defaults to the one in the Key Vault token (``tid``).

The secret is read with azure-keyvault-secrets' ``SecretClient`` (challenge protocol, retries, api
versions), given a small azure-core credential over the ``TokenSource``, wrapped like every Key Vault
client's credential so that the vault's challenge can only obtain a Key Vault token (``vault_scope``).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import AzureError, HttpResponseError

from ..._internal import fork_safety, http_limits
from ..._internal.http_sessions import new_session
from ...errors import (
    AzureServiceTokenProviderError,
    ConnectionStringError,
    TokenEndpointError,
    VaultResourceNotAllowedError,
)
from .._connection_string import REDACTED
from .._credential_adapter import CredentialAdapter
from .._scopes import resource_from_scopes
from .._secret_uri import SecretAddress, SecretUriError, parse_secret_uri
from .._token_claims import unverified_claims
from .._vault_scope import KeyVaultScopedCredential
from .._vault_scope import key_vault_resource as canonical_resource
from ._base import SourceToken, TokenRequest, TokenSource
from ._certificate import certificate_credential
from ._certificate_store import CertificateLoadError, StoredCertificate, load_pkcs12
from ._confidential_client import ConfidentialClients

IDENTIFIER_KEY = "KeyVaultCertificateSecretIdentifier"
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
_RETRIEVAL_FAILED = "Specified Key Vault certificate was unable to be retrieved."
_IDENTIFIER_FORM = "https://<vault name>.vault.azure.net/secrets/<certificate name>[/<version>]"
_HOW_TO_ALLOW_RESOURCE = (
    "pass KeyVaultCertificateSource(key_vault_resource=...); a connection string cannot name another Key Vault resource"
)


# --- the identifier ------------------------------------------------------------------------------

_IDENTIFIER_PROBLEMS = {  # .NET's words for each problem
    "not_a_uri": "Specified secret identifier is not a valid URI.",
    "not_https": "Specified identifier must use HTTPS.",
    "not_a_secret": "Specified identifier is not a secret identifier.",
}


def _shown(identifier: str) -> str:
    """The identifier as a message may quote it: a user name and password in it replaced."""
    return re.sub(r"(?<=://)[^/@]*@", f"{REDACTED}@", identifier)


def parse_secret_identifier(identifier: str) -> SecretAddress:
    """The secret ``identifier`` names (``parse_secret_uri``). Raises ``ConnectionStringError`` (a
    ``ValueError``) naming ``KeyVaultCertificateSecretIdentifier``, in .NET's words."""
    try:
        return parse_secret_uri(identifier)
    except SecretUriError as exc:
        raise ConnectionStringError(
            f"{_RETRIEVAL_FAILED} {_IDENTIFIER_PROBLEMS[exc.problem]} {IDENTIFIER_KEY} is '{_shown(identifier)}' "
            f"({exc}); "
            f"expected {_IDENTIFIER_FORM}.",
            key=IDENTIFIER_KEY,
        ) from None


# --- azure-core credential over a TokenSource -----------------------------------------------------


class TokenSourceCredential(CredentialAdapter):
    """What ``SecretClient`` needs (``get_token`` / ``get_token_info``), answered by a ``TokenSource``.

    Remembers the tenant of the last token (its ``tid``) and of the vault's challenge, for the tenant
    default. Key Vault asks for one ``<resource>/.default`` scope; CAE claims are not supported.
    """

    def __init__(self, source: TokenSource, authority_host: str) -> None:
        self.source = source
        self.authority_host = authority_host
        self.token_tenant: str | None = None
        self.challenge_tenant: str | None = None

    def _token_info(self, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
        tenant_id = options.get("tenant_id")
        self.challenge_tenant = tenant_id or self.challenge_tenant
        token = self.source.get_token(
            TokenRequest(resource_from_scopes(scopes), tenant_id or None, self.authority_host)
        )
        tid = unverified_claims(token.access_token).get("tid")
        self.token_tenant = str(tid) if tid else self.token_tenant
        refresh_on = int(token.refresh_on) if token.refresh_on is not None else None
        return AccessTokenInfo(
            token.access_token, int(token.expires_on), token_type=token.token_type, refresh_on=refresh_on
        )


# --- the certificate from the secret ---------------------------------------------------------------


def certificate_from_secret(value: str | None, content_type: str | None, origin: str) -> StoredCertificate:
    """The PFX in a Key Vault secret: content type ``application/x-pkcs12``, base64, no password."""
    if (content_type or "").strip().lower() != PKCS12_CONTENT_TYPE:
        raise CertificateLoadError(
            f"The secret's content type is '{content_type or ''}', not '{PKCS12_CONTENT_TYPE}': point {IDENTIFIER_KEY}"
            " at the secret of a Key Vault certificate created with content type PKCS #12 (PEM ones are not"
            " supported), or store a base64 PFX without password with that content type."
        )
    try:
        data = base64.b64decode("".join((value or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateLoadError("The secret's value is not base64.") from None
    stored = load_pkcs12(data, origin)
    if stored.private_key is None:
        raise CertificateLoadError(f"The PFX in the secret cannot be used: {stored.key_problem}.")
    return stored


@dataclass(frozen=True)
class _VaultCertificate:
    stored: StoredCertificate
    vault_tenant: str | None  # the tid of the token that read it, else the vault's challenge tenant


# --- the source ------------------------------------------------------------------------------------


class KeyVaultCertificateSource:
    """Signs in as ``app_id`` with the certificate kept in Key Vault at ``secret_identifier``.

    ``vault_token_source`` gets the Key Vault token (a managed identity, the Azure CLI, a chain ...), only
    ever for a Key Vault resource: Azure's own, or ``key_vault_resource`` (Azure Stack Hub, a private
    cloud); a vault challenging for anything else gets ``VaultResourceNotAllowedError`` and no token. The
    certificate is fetched once and kept for the source's lifetime; when Entra refuses it (rotated in Key
    Vault and the old one removed from the app), it is fetched again once.
    """

    name = "Service principal (Key Vault certificate)"

    def __init__(
        self,
        app_id: str,
        secret_identifier: str,
        *,
        tenant_id: str | None = None,
        vault_token_source: TokenSource,
        key_vault_resource: str | None = None,
    ) -> None:
        if not app_id:
            raise ValueError("KeyVaultCertificateSource needs an app id")
        self.key_vault_resource = canonical_resource(key_vault_resource) if key_vault_resource else None
        self.app_id = app_id
        self.secret_identifier = secret_identifier.strip()
        self.identifier = parse_secret_identifier(secret_identifier)
        self.tenant_id = tenant_id or None
        self.vault_token_source = vault_token_source
        self.cache_identity = f"app:{app_id}:{self.tenant_id or ''}:keyvault-cert:{self.secret_identifier}"
        self._clients = ConfidentialClients(app_id, self.name)
        self._lock = threading.Lock()
        self._current: _VaultCertificate | None = None
        fork_safety.new_lock_in_child(self)

    def __repr__(self) -> str:
        return (
            f"KeyVaultCertificateSource(app_id={self.app_id!r}, secret_identifier={self.secret_identifier!r}, "
            f"tenant_id={self.tenant_id!r}, vault_token_source={self.vault_token_source!r})"
        )

    def get_token(self, request: TokenRequest) -> SourceToken:
        current = self._certificate(request)
        try:
            return self._acquire(request, current)
        except TokenEndpointError as exc:
            if not exc.credential_rejected:
                raise
            try:
                fresh = self._certificate(request, stale=current)
            except AzureServiceTokenProviderError:
                raise exc from None  # Entra's refusal is the news; a failed second read of the vault is not
            if fresh.stored.thumbprint == current.stored.thumbprint:
                raise
            self._clients.forget(certificate_credential(current.stored).key)
            return self._acquire(request, fresh)

    def _acquire(self, request: TokenRequest, certificate: _VaultCertificate) -> SourceToken:
        tenant = request.tenant_id or self.tenant_id or certificate.vault_tenant
        if not tenant:
            raise self._error(
                request,
                "No TenantId was given and the Key Vault token names no tenant (tid): add TenantId to the "
                "connection string.",
            )
        return self._clients.acquire(request, tenant, certificate_credential(certificate.stored))

    def _certificate(self, request: TokenRequest, stale: _VaultCertificate | None = None) -> _VaultCertificate:
        """The cached certificate, fetched under the lock when there is none or it is ``stale`` (so that
        concurrent callers cause one fetch, and a refetch another thread already did is not repeated)."""
        with self._lock:
            if self._current is None or self._current is stale:
                self._current = self._fetch(request)
            return self._current

    def _fetch(self, request: TokenRequest) -> _VaultCertificate:
        credential = TokenSourceCredential(self.vault_token_source, request.authority_host)
        secret_value, content_type = self._read_secret(request, credential)
        try:
            stored = certificate_from_secret(secret_value, content_type, self.secret_identifier)
        except CertificateLoadError as exc:
            raise self._retrieval_error(request, str(exc)) from None
        problem = stored.validity_problem()
        if problem:
            raise self._retrieval_error(
                request,
                f"The certificate {stored.thumbprint} in the secret is {problem}: renew it in Key Vault and "
                "register the new one on the app.",
            )
        return _VaultCertificate(stored, credential.token_tenant or credential.challenge_tenant)

    def _read_secret(self, request: TokenRequest, credential: TokenSourceCredential) -> tuple[str | None, str | None]:
        from azure.keyvault.secrets import SecretClient  # here: the SDK is loaded only by the apps that use it

        identifier = self.identifier
        vault_url = identifier.origin.url
        scoped = KeyVaultScopedCredential(
            credential,
            vault_url=vault_url,
            configured=self.key_vault_resource,
            how_to_allow=_HOW_TO_ALLOW_RESOURCE,
        )
        try:
            with SecretClient(
                vault_url,
                scoped,
                verify_challenge_resource=not identifier.origin.is_loopback,
                permit_redirects=False,  # Key Vault never redirects; a redirect could only lead a request elsewhere
                **_limited_pipeline(),
            ) as client:
                secret = client.get_secret(identifier.name, identifier.version)
        except VaultResourceNotAllowedError:
            raise  # as it is: it names the vault and what its challenge asked for
        except AzureServiceTokenProviderError as exc:
            reason = f"No Key Vault access token from {getattr(self.vault_token_source, 'name', 'its source')}: "
            raise self._retrieval_error(request, reason + exc.message) from None
        except HttpResponseError as exc:
            # Not chained: its str() ends with up to 2 KB of the reply's body, which may be the secret (the PFX)
            # when the vault's reply could not be used; what the vault said is in our message.
            raise self._retrieval_error(request, _describe_vault_reply(exc)) from None
        except (AzureError, ValueError) as exc:  # unreachable vault; ValueError: the challenge names another host
            raise self._retrieval_error(request, f"Could not read it from {vault_url}: {exc}") from exc
        return secret.value, secret.properties.content_type

    def _retrieval_error(self, request: TokenRequest, reason: str) -> AzureServiceTokenProviderError:
        return self._error(request, f"{_RETRIEVAL_FAILED} {reason}")

    def _error(self, request: TokenRequest, reason: str) -> AzureServiceTokenProviderError:
        tenant = request.tenant_id or self.tenant_id
        return AzureServiceTokenProviderError(
            f"Tried to get token using {self.name}. {reason}",
            resource=request.resource,
            authority=f"{request.authority_host}{tenant}" if tenant else "",
            method=self.name,
        )


def _limited_pipeline() -> dict[str, Any]:
    """SecretClient options that keep the read within appauth's limits (``http_limits``): the whole read,
    retries and their waits included, within ``DEFAULT_DEADLINE``; a reply of at most 1 MiB; https only. The
    session is the client's own, closed with it."""
    session = new_session(max_bytes=http_limits.VAULT_REPLY_MAX_BYTES, https_only=True)
    return {
        "transport": http_limits.LimitedTransport(session=session, session_owner=True),
        "per_call_policies": [http_limits.ReplyDeadlinePolicy(http_limits.DEFAULT_DEADLINE)],
    }


def _describe_vault_reply(exc: HttpResponseError) -> str:
    """Key Vault's own message and a fix for the usual statuses."""
    message = exc.error.message if exc.error is not None and exc.error.message else str(exc.message).splitlines()[0]
    fixes = {
        401: "Key Vault refused the token: the identity that reads the vault must get tokens for "
        "https://vault.azure.net.",
        403: "Give the identity that reads the vault 'get' permission on secrets (access policy) or the "
        "'Key Vault Secrets User' role.",
        404: f"Check the name (and version) in {IDENTIFIER_KEY}.",
    }
    fix = fixes.get(exc.status_code or 0, "")
    return f"Key Vault answered {exc.status_code}: {message} {fix}".strip()
