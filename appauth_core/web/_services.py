"""What a web app gets from appauth, built from an ``AppAuthConfig``: the token provider, the Key Vault
secrets, the template allow-list, settings-time reference resolution, the sessions for the downstream APIs it
calls and the validator for the tokens it is called with; the adapters only read settings and wire it in.
Views get a ``RequestAppAuth`` over it (Django's ``request.appauth``, Flask's ``g.appauth``), which exposes its
tokens, secrets, principal, downstream APIs and caller and nothing else, since templates see both."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from .._internal.frame_locals import Hidden, clears_locals
from ..calls import DownstreamApi
from ..errors import (
    AppAuthError,
    ConfigError,
    ConnectionStringError,
    KeyVaultError,
    ReferenceResolutionError,
    SecretNotFoundError,
    TemplateSecretNotAllowedError,
)
from ..keyvault._secrets import KeyVaultSecrets, SharedSecretCache, resolve_each
from ..keyvault._walk import Path, find_references
from ..tokens._provider import AzureServiceTokenProvider
from ..tokens._result import Principal
from ..validation import Caller, TokenValidator, bearer_token, validator_from_settings
from ._config import AppAuthConfig

if TYPE_CHECKING:
    from ..events import RotationEvents

D = TypeVar("D")


class NoDefault(Enum):
    """The type of ``NO_DEFAULT``: ``secret()`` was given no ``default``, so a missing secret raises."""

    NO_DEFAULT = "NO_DEFAULT"


NO_DEFAULT = NoDefault.NO_DEFAULT


class AppAuthServices:
    """Tokens, secrets, downstream APIs and token validation for one app. Constructing it does no I/O; errors
    in the configuration (connection string, vault URL, allow-list, API, downstream APIs) are raised here, at
    startup. The validator (its key cache) and each downstream API's session are made here, once: every
    request shares them."""

    def __init__(
        self, config: AppAuthConfig, *, shared_cache: SharedSecretCache | None = None, spell: str = "{}"
    ) -> None:
        """``spell`` is how the user writes a setting (``"APPAUTH['{}']"``, ``"APPAUTH_{}"``): a wrong value
        raises ``ConfigError`` naming the setting it came from, which only the adapter's spelling tells, and the
        provider's and the secrets' errors name settings with it too (``setting_names``)."""
        self.config = config
        self._spell = spell
        try:
            self.provider = AzureServiceTokenProvider(config.connection_string, config.azure_ad_instance, spell=spell)
            self.secrets = KeyVaultSecrets(
                config.key_vault_url,
                self.provider,
                cache_seconds=config.secret_cache_seconds,
                allowed_hosts=config.allowed_vault_hosts,
                vault_suffix=config.vault_suffix,
                key_vault_resource=config.key_vault_resource,
                shared_cache=shared_cache,
                encryption_key=config.cache_encryption_key,
                spell=spell,
            )
        except ConnectionStringError as error:
            where = connection_string_setting(config, error, spell)
            raise ConfigError(f"{where}: {error}", key=where) from None
        except KeyVaultError as error:  # KeyVaultConfigurationError, or a bad encryption-key reference
            where = error.setting or "the Key Vault settings"  # KeyVaultSecrets names the setting at fault
            raise ConfigError(f"{where}: {error}", key=where) from None
        self.events: RotationEvents | None = None  # the Event Grid webhook and the secrets' invalidation
        if config.events is not None:
            from ..events import RotationEvents

            self.events = RotationEvents(config.events, self.secrets, shared_cache)
        self._validator: TokenValidator | None = None
        if config.api is not None:  # a wrong value names the user's setting (config.api_spell)
            self._validator = validator_from_settings(config.api, spell=config.api_spell)
        self._downstream: dict[str, DownstreamApi] = {}
        for api in config.downstream_apis:
            timeout = {} if api.timeout is None else {"timeout": api.timeout}
            self._downstream[api.name] = DownstreamApi(api.name, api.base_url, api.resource, self.provider, **timeout)

    # --- what views use, through RequestAppAuth (request.appauth / g.appauth) ---------------------

    def get_access_token(self, resource: str, tenant_id: str | None = None) -> str:
        return self.provider.get_access_token(resource, tenant_id)

    async def get_access_token_async(self, resource: str, tenant_id: str | None = None) -> str:
        return await self.provider.get_access_token_async(resource, tenant_id)

    def secret(self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT) -> str | D:
        """The value of the Key Vault secret ``name`` (``version``: a pinned one), cached. ``default``, when
        given, is returned if Key Vault says there is no such secret (or version), and only then: a disabled
        secret, access denied and an unreachable vault raise as without it, and so does a missing vault
        configuration (``ConfigError``), which a default must not hide in a deployment."""
        self._require_vault()
        if default is NO_DEFAULT:
            return self.secrets.get(name, version)
        try:
            return self.secrets.get(name, version)
        except SecretNotFoundError:
            return default

    async def secret_async(
        self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT
    ) -> str | D:
        """``secret``, awaited."""
        self._require_vault()
        if default is NO_DEFAULT:
            return await self.secrets.get_async(name, version)
        try:
            return await self.secrets.get_async(name, version)
        except SecretNotFoundError:
            return default

    @property
    def principal(self) -> Principal | None:
        return self.provider.principal_used

    # --- service to service ------------------------------------------------------------------------

    def downstream_api(self, name: str) -> DownstreamApi:
        """The session for ``DOWNSTREAM_APIS[name]``; ``ConfigError`` naming the configured names otherwise."""
        try:
            return self._downstream[name]
        except KeyError:
            pass
        setting = self._spell.format("DOWNSTREAM_APIS")
        configured = ", ".join(map(repr, self._downstream)) or "none"
        raise ConfigError(
            f"No downstream API named {name!r}: {setting} configures {configured}. Add "
            f"{{{name!r}: {{'BASE_URL': 'https://...', 'RESOURCE': 'api://...'}}}} to it, or use one of those names.",
            key=setting,
        )

    @property
    def validator(self) -> TokenValidator:
        """The ``TokenValidator`` ``API`` configures; ``ConfigError`` saying what to set when there is none."""
        if self._validator is None:
            audience = self.config.api_spell.format("AUDIENCE")
            raise ConfigError(
                f"This app is not set up to check tokens: set {audience} to its App ID URI (e.g. 'api://orders') "
                f"or client id, and {self.config.api_spell.format('TENANT_ID')} to its tenant.",
                key=audience,
            )
        return self._validator

    def authenticate(
        self, authorization: str | None, *, roles: Sequence[str] = (), scopes: Sequence[str] = ()
    ) -> Caller:
        """The ``Caller`` of the bearer token in ``authorization`` (an ``Authorization`` header's value),
        holding ``roles`` and ``scopes``; ``TokenValidationError`` (``InsufficientScopeError``) otherwise."""
        validator = self.validator
        try:
            return validator.validate(bearer_token(authorization), roles=roles, scopes=scopes)
        except BaseException:
            del authorization  # this frame stays in the traceback: it must not hold the token
            raise

    async def authenticate_async(
        self, authorization: str | None, *, roles: Sequence[str] = (), scopes: Sequence[str] = ()
    ) -> Caller:
        """``authenticate``, awaited (the validator's ``validate_async``: key fetches do not block the loop)."""
        validator = self.validator
        try:
            return await validator.validate_async(bearer_token(authorization), roles=roles, scopes=scopes)
        except BaseException:
            del authorization  # this frame stays in the traceback: it must not hold the token
            raise

    def template_secret(self, name: str) -> str:
        if name not in self.config.template_secrets:
            raise TemplateSecretNotAllowedError(name, self._spell.format("TEMPLATE_SECRETS"))
        return self.secret(name)

    def _require_vault(self) -> None:
        if not self.config.key_vault_url:
            raise ConfigError(
                f"No Key Vault is configured: set {self._spell.format('KEY_VAULT_URL')} to your vault's URL, "
                "e.g. 'https://myvault.vault.azure.net/'.",
                key=self._spell.format("KEY_VAULT_URL"),
            )

    # --- settings-time references -----------------------------------------------------------------

    @clears_locals
    def resolve_references(self, settings: Mapping[str, Any], *, spell: Callable[[Path], str]) -> dict[Path, str]:
        """Resolve every ``@Microsoft.KeyVault(...)`` string found in ``settings`` (nested mappings, lists,
        tuples): each is parsed and its vault checked before any request, then all are read concurrently, each
        once (``resolve_each``). Returns {path: value}; raises ``ReferenceResolutionError`` naming the first
        setting (in settings order) that failed, a malformed or not allowed reference before anything is read.
        ``spell`` renders a path as the user writes it."""
        found = list(find_references(settings))
        if not found:
            return {}
        outcomes = resolve_each(self.secrets, [reference for _, reference in found], all_or_nothing=True)
        for path, reference in found:  # every failure is looked for before any value is unwrapped
            outcome = outcomes.get(reference)
            if isinstance(outcome, AppAuthError):  # every appauth error message is free of secret values
                raise ReferenceResolutionError(spell(path), f"{type(outcome).__name__}: {outcome}")
        return {path: _value(outcomes[reference]) for path, reference in found}

    async def aclose(self) -> None:
        import asyncio  # only async apps close this way: not imported with appauth_core

        await asyncio.to_thread(self.close)

    def close(self) -> None:
        self.secrets.close()
        if self.events is not None:
            self.events.close()
        for api in self._downstream.values():
            api.close()


def _value(outcome: Hidden[str] | AppAuthError) -> str:
    assert isinstance(outcome, Hidden), "resolve_references raised for every failure"
    return outcome.value


def connection_string_setting(config: AppAuthConfig, error: ConnectionStringError, spell: str) -> str:
    """Where the value a ``ConnectionStringError`` is about came from, as the user writes it: the core knows
    the value, only the adapter's ``spell`` knows where the user put it."""
    if error.key == "AzureAdInstance" and config.azure_ad_instance:
        return spell.format("AZURE_AD_INSTANCE")
    if config.connection_string:
        return spell.format("CONNECTION_STRING")
    return "the AzureServicesAuthConnectionString environment variable"
