"""What a web app gets from appauth, built from an ``AppAuthConfig``: the token provider, the Key Vault
secrets, the template allow-list, and settings-time reference resolution. Django's ``request.appauth`` and
Flask's ``g.appauth`` are this object; the adapters only read settings and wire it in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .config import AppAuthConfig, ConfigError
from .errors import AppAuthError
from .provider import AzureServiceTokenProvider
from .result import Principal
from .secrets import KeyVaultSecrets, SharedSecretCache, is_reference

Path = tuple[Any, ...]  # keys and indexes from the settings root to a value


class TemplateSecretNotAllowedError(AppAuthError):
    """A template asked for a secret that is not in the template allow-list."""

    def __init__(self, name: str, setting: str) -> None:
        super().__init__(
            f"Templates may not render the secret {name!r}: add it to {setting} if it is meant to be public "
            "(templates end up in pages, caches and logs)."
        )
        self.name = name


class ReferenceResolutionError(AppAuthError):
    """A ``@Microsoft.KeyVault(...)`` setting could not be resolved; ``setting`` names where it is."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class AppAuthServices:
    """Tokens and secrets for one app. Constructing it does no I/O; errors in the configuration
    (connection string, vault URL, allow-list) are raised here, at startup."""

    def __init__(
        self,
        config: AppAuthConfig,
        *,
        shared_cache: SharedSecretCache | None = None,
        template_setting: str = "TEMPLATE_SECRETS",
        key_vault_setting: str = "KEY_VAULT_URL",
    ) -> None:
        self.config = config
        self._template_setting = template_setting
        self._key_vault_setting = key_vault_setting
        self.provider = AzureServiceTokenProvider(config.connection_string, config.azure_ad_instance)
        self.secrets = KeyVaultSecrets(
            config.key_vault_url,
            self.provider,
            cache_seconds=config.secret_cache_seconds,
            allowed_hosts=config.allowed_vault_hosts,
            shared_cache=shared_cache,
            encryption_key=config.cache_encryption_key,
        )

    # --- what views use (request.appauth / g.appauth) ---------------------------------------------

    def get_access_token(self, resource: str, tenant_id: str | None = None) -> str:
        return self.provider.get_access_token(resource, tenant_id)

    async def get_access_token_async(self, resource: str, tenant_id: str | None = None) -> str:
        return await self.provider.get_access_token_async(resource, tenant_id)

    def secret(self, name: str, version: str | None = None) -> str:
        self._require_vault()
        return self.secrets.get(name, version)

    async def secret_async(self, name: str, version: str | None = None) -> str:
        self._require_vault()
        return await self.secrets.get_async(name, version)

    @property
    def principal(self) -> Principal | None:
        return self.provider.principal_used

    def template_secret(self, name: str) -> str:
        if name not in self.config.template_secrets:
            raise TemplateSecretNotAllowedError(name, self._template_setting)
        return self.secret(name)

    def _require_vault(self) -> None:
        if not self.config.key_vault_url:
            raise ConfigError(
                f"No Key Vault is configured: set {self._key_vault_setting} to your vault's URL, "
                "e.g. 'https://myvault.vault.azure.net/'.",
                key=self._key_vault_setting,
            )

    # --- settings-time references -----------------------------------------------------------------

    def resolve_references(self, settings: Mapping[str, Any], *, spell: Callable[[Path], str]) -> dict[Path, str]:
        """Resolve every ``@Microsoft.KeyVault(...)`` string found in ``settings`` (nested dicts, lists,
        tuples), concurrently. Returns {path: value}; raises ``ReferenceResolutionError`` naming the first
        setting (in settings order) that failed. ``spell`` renders a path as the user writes it."""
        found = list(find_references(settings))
        if not found:
            return {}
        unique = list(dict.fromkeys(reference for _, reference in found))
        with ThreadPoolExecutor(max_workers=min(16, len(unique)), thread_name_prefix="appauth-resolve") as pool:
            outcomes = dict(zip(unique, pool.map(self._try_resolve, unique), strict=True))
        resolved: dict[Path, str] = {}
        for path, reference in found:
            value, error = outcomes[reference]
            if error is not None:
                raise ReferenceResolutionError(spell(path), error) from None
            assert value is not None
            resolved[path] = value
        return resolved

    def _try_resolve(self, reference: str) -> tuple[str | None, str | None]:
        try:
            return self.secrets.resolve(reference), None
        except AppAuthError as error:  # every appauth error message is free of secret values
            return None, f"{type(error).__name__}: {error}"

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        self.secrets.close()


def find_references(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, reference string) inside nested dicts, lists and tuples, depth first, in order."""
    if isinstance(data, str):
        if is_reference(data):
            yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from find_references(value, (*path, key))
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            yield from find_references(value, (*path, index))


def replace_at(data: Any, path: Path, value: Any) -> Any:
    """``data`` with the item at ``path`` replaced; containers on the way are copied, tuples stay tuples."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, Mapping):
        copy = dict(data)
        copy[head] = replace_at(data[head], rest, value)
        return copy
    items = list(data)
    items[head] = replace_at(items[head], rest, value)
    return tuple(items) if isinstance(data, tuple) else items
