"""Reading ``APPAUTH_*`` keys from ``app.config`` into the core's objects (Authlib's ``load_config`` hook).

Everything here runs once, in ``init_app``, so a wrong setting stops the app at startup with the key in
the message, never on the first request that happens to need it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from appauth_core.config import AppAuthConfig, ConfigError
from appauth_core.errors import ConnectionStringError, KeyVaultError
from appauth_core.framework_cache import ObjectCacheAdapter
from appauth_core.services import AppAuthServices, find_references
from appauth_core.shared_cache import SharedSecretCache
from appauth_core.vault_hosts import HostPattern, VaultOrigin

PREFIX = "APPAUTH_"
SPELL = PREFIX + "{}"
ENVIRONMENT_CONNECTION_STRING = "the AzureServicesAuthConnectionString environment variable"
# KeyVaultSecrets reads (and re-reads on rotation) a referenced encryption key itself, outside the shared
# cache; every other APPAUTH_* value is needed to reach the vault, so it cannot come from it.
MAY_BE_A_REFERENCE = frozenset({"CACHE_ENCRYPTION_KEY"})


def read_config(app: Flask) -> AppAuthConfig:
    """``APPAUTH_*`` keys of ``app.config`` as an ``AppAuthConfig``; unknown ``APPAUTH_*`` keys are errors
    (a typo such as ``APPAUTH_KEYVAULT_URL`` would otherwise silently mean "no vault")."""
    values = app.config.get_namespace(PREFIX, lowercase=False, trim_namespace=True)
    for key, value in values.items():
        if key not in MAY_BE_A_REFERENCE and next(find_references(value), None) is not None:
            raise ConfigError(
                f"{SPELL.format(key)} cannot be a @Microsoft.KeyVault(...) reference: appauth reads it to "
                "reach Key Vault. Set the value itself (e.g. from an environment variable).",
                key=SPELL.format(key),
            )
    return AppAuthConfig.from_mapping(values, spell=SPELL)


def build_services(app: Flask, config: AppAuthConfig) -> AppAuthServices:
    """The app's ``AppAuthServices``; core errors about a value are re-raised naming the ``APPAUTH_`` key
    the value came from (the core knows the value, only the adapter knows where the user wrote it)."""
    try:
        return AppAuthServices(
            config,
            shared_cache=shared_cache(app, config),
            template_setting=SPELL.format("TEMPLATE_SECRETS"),
            key_vault_setting=SPELL.format("KEY_VAULT_URL"),
        )
    except ConfigError:
        raise
    except ConnectionStringError as error:
        where = _connection_string_origin(config, error)
        raise ConfigError(f"{where}: {error}", key=where) from error
    except KeyVaultError as error:  # KeyVaultConfigurationError, or a bad encryption-key reference
        where = _vault_setting_at_fault(config)
        raise ConfigError(f"{where}: {error}", key=where) from error


def _connection_string_origin(config: AppAuthConfig, error: ConnectionStringError) -> str:
    if error.key == "AzureAdInstance" and config.azure_ad_instance:
        return SPELL.format("AZURE_AD_INSTANCE")
    if config.connection_string:
        return SPELL.format("CONNECTION_STRING")
    return ENVIRONMENT_CONNECTION_STRING


def _vault_setting_at_fault(config: AppAuthConfig) -> str:
    """Which setting a ``KeyVaultSecrets`` construction error is about (the error does not say): the vault
    URL and allow-list are re-parsed with the core's own parsers; what remains is the cache's key."""
    try:
        if config.key_vault_url:
            VaultOrigin.parse(config.key_vault_url)
    except ValueError:
        return SPELL.format("KEY_VAULT_URL")
    try:
        for entry in config.allowed_vault_hosts:
            HostPattern.parse(entry)
    except ValueError:
        return SPELL.format("ALLOWED_VAULT_HOSTS")
    return SPELL.format("CACHE_ENCRYPTION_KEY")


def shared_cache(app: Flask, config: AppAuthConfig) -> SharedSecretCache | None:
    """``APPAUTH_CACHE`` as a ``SharedSecretCache``: a Flask-Caching ``Cache`` initialised on ``app`` (its
    backend for *this* app is used, so one ``Cache`` serving several apps stays correct), or any object
    with ``get``/``set(key, value, timeout)``/``delete`` (a cachelib or Flask-Caching backend)."""
    if config.cache is None:
        return None
    return ObjectCacheAdapter(_backend(app, config.cache))


def _backend(app: Flask, cache: Any) -> Any:
    key = SPELL.format("CACHE")
    backends = app.extensions.get("cache") or {}
    for candidate, backend in backends.items():  # identity, not equality: the cache may be unhashable
        if candidate is cache:
            return backend
    if hasattr(cache, "init_app"):  # a Flask-Caching Cache that was initialised on another app, or none
        raise ConfigError(
            f"{key} is a Flask-Caching Cache that is not initialised on this app: call cache.init_app(app) "
            "before appauth.init_app(app).",
            key=key,
        )
    if all(callable(getattr(cache, method, None)) for method in ("get", "set", "delete")):
        return cache
    raise ConfigError(
        f"{key} must be a Flask-Caching Cache (e.g. with CACHE_TYPE='RedisCache') or an object with "
        f"get/set/delete, not {type(cache).__name__}.",
        key=key,
    )
