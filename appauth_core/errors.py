"""One exception tree for appauth. Every error says what was tried and how to fix it, and never carries a
secret (client secret, AppKey, token, certificate key or password, secret value).

    AppAuthError                              root: catch this to catch everything appauth raises;
     │                                        .setting: what to change, as the user writes it
     ├── CaBundleError                        the CA bundle a variable (REQUESTS_CA_BUNDLE ...) names cannot be
     │                                        read: nothing was sent; .setting, .path
     ├── ConfigError                          (also ValueError) a setting has a wrong name, type or value:
     │                                        .key (and .setting), as the user spells it
     ├── TemplateSecretNotAllowedError        a template asked for a secret the template allow-list lacks: .name
     ├── ReferenceResolutionError             a @Microsoft.KeyVault(...) setting could not be resolved at
     │                                        startup: .setting, .reason
     ├── CertificateStoreError                the certificate store cannot be read at all (no folder ...)
     ├── AzureServiceTokenProviderError       no token: .resource, .authority, .method, .attempts
     │    ├── TokenWaitTimeoutError           another caller's fetch of the same token was still under way
     │    │                                   at the deadline: this caller stopped waiting; .waited
     │    ├── ConnectionStringError           (also ValueError) the connection string is wrong: .key
     │    ├── InvalidRequestError             (also ValueError) a bad resource, tenant or scope argument
     │    ├── SourceUnavailableError          this way of getting a token cannot work here (not
     │    │                                   installed, not signed in, no identity endpoint); the
     │    │                                   default chain moves on to the next method (and only
     │    │                                   then); .retry_after when it may work later
     │    ├── UntrustedProgramError           the program a developer source would run (or the file
     │    │                                   naming it) is not that tool, or others could change it:
     │    │                                   nothing was run; .path
     │    └── TokenEndpointError              Entra ID (or the way to it) refused the request: .reason,
     │                                        .error, .error_codes (from Entra's reply)
     ├── AppAuthNotInitialisedError           (also RuntimeError, AttributeError) appauth is not wired into
     │                                        the app that code asked it from (no init_app, no middleware)
     ├── DatabaseSignInError                  a database server refused the Entra ID token as the password:
     │                                        .server, .user, .principal (who the token was for), .reason
     ├── TokenValidationError                 a bearer token this app was called with was refused (RFC 6750):
     │    │                                   .status (401), .error, .www_authenticate, .reason (for logs;
     │    │                                   never the token)
     │    ├── InsufficientScopeError          a valid token lacks a role or scope asked for: 403; .caller,
     │    │                                   .missing_roles, .missing_scopes
     │    └── SigningKeysUnavailableError     the authority's metadata or signing keys could not be had and
     │                                        none are cached: 503, nothing said about the token; .authority
     └── KeyVaultError                        a secret could not be had: .vault_url, .secret_name, .version
          ├── SecretNotFoundError             Key Vault says: no such secret (or version)
          ├── SecretAccessDeniedError         Key Vault says: this identity may not read it (403/401)
          ├── SecretDisabledError             Key Vault says: the secret (version) is disabled
          ├── KeyVaultUnavailableError        no answer (5xx, 429, network) after retries and no cached
          │    │                              value to serve: .status, .retry_after
          │    └── SecretWaitTimeoutError     another caller's read of the same secret was still under way
          │                                   at the deadline: this caller stopped waiting; .waited
          ├── VaultNotAllowedError            the vault host is not allow-listed: no token was requested
          ├── VaultResourceNotAllowedError    (also AzureServiceTokenProviderError) the vault's challenge asked
          │                                   for a token for a resource that is not Key Vault's: none was
          │                                   requested; .challenge_resource
          ├── InvalidSecretNameError          (also ValueError) not ^[0-9a-zA-Z-]{1,127}$ (or a bad version);
          │                                   refused before any request
          ├── InvalidReferenceError           (also ValueError) a malformed @Microsoft.KeyVault(...) reference
          └── KeyVaultConfigurationError      (also ValueError) KeyVaultSecrets was set up wrongly (no vault
                                              URL, a shared cache without a key, a bad key)

A token failure while reading a secret is raised as the provider's AzureServiceTokenProviderError, as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar


class AppAuthError(Exception):
    """Root of every error appauth raises.

    ``setting``: the setting to change, named as the user wrote it: ``APPAUTH['ALLOWED_VAULT_HOSTS']`` for a
    Django app, ``APPAUTH_ALLOWED_VAULT_HOSTS`` for a Flask app, ``KeyVaultSecrets(allowed_hosts=...)`` in
    plain Python (``setting_names``), or an environment variable's name; None when no setting is at fault."""

    setting: str | None = None


class CaBundleError(AppAuthError):
    """The CA bundle (a PEM file, or a folder of certificates) that HTTPS connections were told to trust
    cannot be read, so nothing was sent. ``setting`` names what pointed at it (``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``; None when code passed it), ``path`` the bundle."""

    def __init__(self, message: str, *, setting: str | None, path: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.path = path


class ConfigError(AppAuthError, ValueError):
    """A setting has a wrong name, type or value. ``key`` (and ``setting``) is the setting as the user spells it."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.setting = key


class TemplateSecretNotAllowedError(AppAuthError):
    """A template asked for a secret that is not in the template allow-list."""

    def __init__(self, name: str, setting: str) -> None:
        super().__init__(
            f"Templates may not render the secret {name!r}: add it to {setting} if it is meant to be public "
            "(templates end up in pages, caches and logs)."
        )
        self.name = name
        self.setting = setting


class ReferenceResolutionError(AppAuthError):
    """A ``@Microsoft.KeyVault(...)`` setting could not be resolved; ``setting`` names where it is."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class CertificateStoreError(AppAuthError):
    """The store cannot be read at all (Windows without a folder, a folder that is a file ...)."""


@dataclass(frozen=True)
class Attempt:
    """One method the provider tried, and why it did not give a token."""

    method: str
    reason: str

    def __str__(self) -> str:
        return f"{self.method}: {self.reason}"


class AzureServiceTokenProviderError(AppAuthError):
    """No access token could be had. ``attempts`` lists each method tried with its own reason."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        authority: str | None = None,
        method: str | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.authority = authority
        self.method = method
        self.attempts = tuple(attempts)

    def __str__(self) -> str:
        return self.message


class ConnectionStringError(AzureServiceTokenProviderError, ValueError):
    """The connection string cannot be used; ``key`` names the offending key when there is one."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SourceUnavailableError(AzureServiceTokenProviderError):
    """This method cannot work in this environment; a chain should try the next one. ``retry_after``: the
    seconds after which it may work after all (an IMDS that did not answer its probe yet), None when
    nothing suggests it will."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class UntrustedProgramError(AzureServiceTokenProviderError):
    """A program a developer source would run for a token (Visual Studio's token service, the Azure CLI),
    or the file that names it, is not that tool or could be changed by someone other than this user or an
    administrator; nothing was run. ``path`` names the file or program refused."""

    def __init__(self, message: str, *, path: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.path = path


class _GaveUpWaiting(AppAuthError):
    """What the two wait timeouts share: ``waited``, the seconds this caller waited (the deadline,
    ``http_limits.DEFAULT_DEADLINE``), and the message saying that the other caller's fetch goes on."""

    waited: float = 0.0
    _what = ""  # what was waited for
    _slow = ""  # who is slow to answer

    @classmethod
    def after(cls: type[_Waiting], waited: float) -> _Waiting:
        error = cls(
            f"Gave up waiting for a {cls._what} after {waited:g} s: another caller's request for the same "
            f"{cls._what} is still under way ({cls._slow} is slow to answer). It goes on, and what it gets will be "
            "cached; try again shortly, and check the endpoint if this persists."
        )
        error.waited = waited
        return error


_Waiting = TypeVar("_Waiting", bound=_GaveUpWaiting)


class TokenWaitTimeoutError(_GaveUpWaiting, AzureServiceTokenProviderError):
    """Another caller's fetch of the same token was still under way after ``waited`` seconds, so this
    caller stopped waiting for it. The fetch goes on, and the token it gets is cached for the callers after
    it."""

    _what, _slow = "token", "the identity endpoint or Entra ID"


class InvalidRequestError(AzureServiceTokenProviderError, ValueError):
    """The caller passed an argument no token can be had for (an empty resource, a bad tenant ID)."""


class TokenEndpointError(AzureServiceTokenProviderError):
    """Entra ID (or the way to it) refused the request. ``reason`` is the message without the "Tried to get
    token using ..." prefix, for lists of attempts; ``error`` and ``error_codes`` come from Entra's reply
    (``invalid_client`` and ``[7000215]``), empty when the endpoint could not be reached.

    Takes the base class's arguments too, so code that rebuilds an error as
    ``type(error)(message, resource=..., authority=..., method=..., attempts=...)`` keeps working."""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        error: str = "",
        error_codes: tuple[int, ...] = (),
        resource: str | None = None,
        authority: str | None = None,
        method: str | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, resource=resource, authority=authority, method=method, attempts=attempts)
        self.reason = message if reason is None else reason
        self.error = error
        self.error_codes = error_codes

    @property
    def credential_rejected(self) -> bool:
        """True when Entra refused the secret or certificate itself (a rotated credential would help)."""
        return self.error == "invalid_client"


class KeyVaultError(AppAuthError):
    """A secret could not be had. Names the vault and the secret (never its value), so a log line says
    which of many references failed."""

    def __init__(
        self,
        message: str,
        *,
        vault_url: str | None = None,
        secret_name: str | None = None,
        version: str | None = None,
        status: int | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.vault_url = vault_url
        self.secret_name = secret_name
        self.version = version
        self.status = status
        self.setting = setting

    def __str__(self) -> str:
        return self.message


class SecretNotFoundError(KeyVaultError):
    """Key Vault answered 404: no secret (or no such version) by that name in that vault."""


class SecretAccessDeniedError(KeyVaultError):
    """Key Vault answered 403 (no ``get`` permission, RBAC, firewall) or refused the token (401)."""


class SecretDisabledError(KeyVaultError):
    """The secret (or the version asked for) exists but is disabled."""


class KeyVaultUnavailableError(KeyVaultError):
    """No answer from Key Vault (5xx, 429, timeout, network) after retries, and no cached value to serve.
    ``retry_after`` is the server's Retry-After in seconds, when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        vault_url: str | None = None,
        secret_name: str | None = None,
        version: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(
            message, vault_url=vault_url, secret_name=secret_name, version=version, status=status, setting=setting
        )
        self.retry_after = retry_after


class SecretWaitTimeoutError(_GaveUpWaiting, KeyVaultUnavailableError):
    """Another caller's read of the same secret was still under way after ``waited`` seconds, so this
    caller stopped waiting for it. The read goes on, and the value it gets is cached for the callers after
    it."""

    _what, _slow = "secret", "Key Vault"


class VaultNotAllowedError(KeyVaultError):
    """The vault's host (scheme, host and port) is not on the allow-list, so no token was sent there."""


class VaultResourceNotAllowedError(KeyVaultError, AzureServiceTokenProviderError):
    """A vault answered with a challenge asking for a token for ``challenge_resource``, which is not a Key
    Vault resource (Azure's public and sovereign clouds, or the one the app configured), so no token was
    requested. Also an ``AzureServiceTokenProviderError``: the Key Vault certificate source raises it where
    a token was asked for."""

    def __init__(self, message: str, *, vault_url: str | None = None, challenge_resource: str | None = None) -> None:
        super().__init__(message, vault_url=vault_url)
        self.challenge_resource = challenge_resource


class InvalidSecretNameError(KeyVaultError, ValueError):
    """A secret name (or version) Key Vault cannot have; refused before any request."""


class InvalidReferenceError(KeyVaultError, ValueError):
    """A value that starts like ``@Microsoft.KeyVault(`` but is not a valid reference."""


class KeyVaultConfigurationError(KeyVaultError, ValueError):
    """``KeyVaultSecrets`` cannot work as configured (no vault URL, shared cache without a key, ...)."""


class AppAuthNotInitialisedError(AppAuthError, RuntimeError, AttributeError):
    """appauth is not wired into the app that code asked it from: Flask's ``g.appauth``, ``current_appauth``
    or ``AppAuth.services`` on an app ``init_app`` never saw, Django's ``request.appauth`` (or
    ``get_appauth(request)``) where ``AppAuthMiddleware`` did not run. The message says what to add, where.

    Also a ``RuntimeError``, as Flask extensions raise for this (Flask-SQLAlchemy's "did you forget to call
    init_app"), and an ``AttributeError``, so ``hasattr``, ``getattr(..., default)`` and Jinja (which renders
    a missing attribute as undefined) behave as they do for any attribute that is not there."""


class DatabaseSignInError(AppAuthError):
    """A database server (Azure Database for PostgreSQL or MySQL) refused the Entra ID access token that
    appauth gave as the password. ``server`` is ``host:port``, ``user`` the database user signed in as,
    ``principal`` who the token was for (app id, object id and tenant, read from the token), ``reason`` the
    server's own words. The message names the likely fixes; neither it nor any field holds the token."""

    def __init__(self, message: str, *, server: str, user: str, principal: str, reason: str) -> None:
        super().__init__(message)
        self.server = server
        self.user = user
        self.principal = principal
        self.reason = reason


class TokenValidationError(AppAuthError):
    """A bearer token this app was called with was refused, or the request had none (RFC 6750).

    ``status`` is the HTTP status to answer with (401), ``error`` the RFC 6750 error code (``"invalid_token"``;
    None when the request carried no bearer token at all, RFC 6750 section 3.1), ``www_authenticate`` the
    challenge header's value, which says nothing that would help an attacker, and ``reason`` which check
    failed, for the log. Neither the message nor any field holds the token."""

    status: int = 401

    def __init__(self, reason: str, *, error: str | None = "invalid_token", message: str | None = None) -> None:
        super().__init__(message or f"The bearer token was refused: {reason}.")
        self.reason = reason
        self.error = error

    @property
    def www_authenticate(self) -> str:
        return "Bearer" if self.error is None else f'Bearer error="{self.error}"'


class InsufficientScopeError(TokenValidationError):
    """The token is valid but lacks an app role (``roles``) or delegated scope (``scp``) that was asked for:
    403 ``insufficient_scope``. ``caller`` is who called (a ``Caller``), ``missing_roles`` and
    ``missing_scopes`` what the token lacks."""

    status = 403

    def __init__(self, caller: Any, *, missing_roles: Sequence[str] = (), missing_scopes: Sequence[str] = ()) -> None:
        lacks = [f"the app role {name!r}" for name in missing_roles] + [
            f"the scope {name!r}" for name in missing_scopes
        ]
        super().__init__(f"the caller's token lacks {' and '.join(lacks)}", error="insufficient_scope")
        self.caller = caller
        self.missing_roles = tuple(missing_roles)
        self.missing_scopes = tuple(missing_scopes)


class SigningKeysUnavailableError(TokenValidationError):
    """The authority's OpenID metadata or signing keys could not be fetched and none are cached, so no token
    can be checked now: answer 503 (the token may well be valid; a 401 would make the caller drop it).
    ``authority`` is the metadata's URL, ``reason`` what went wrong."""

    status = 503

    def __init__(self, reason: str, *, authority: str) -> None:
        super().__init__(reason, error=None, message=f"No token can be checked now: {reason}.")
        self.authority = authority
