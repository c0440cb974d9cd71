"""``APPAUTH = {...}`` read into the core's ``AppAuthConfig`` and ``AppAuthServices`` (Authlib's
``load_config`` hook), kept for the process and rebuilt when ``setting_changed`` says ``APPAUTH`` or
``CACHES`` changed, as DRF's ``api_settings`` does, so ``override_settings`` works in tests.

Building the services does no I/O: nothing is fetched until something asks for a token or a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from appauth_core import AppAuthServices, RedisSecretCache, RequestAppAuth, SharedSecretCache
from appauth_core._internal import fork_safety
from appauth_core.errors import AppAuthError
from appauth_core.web import AppAuthConfig, ConfigError, ObjectCacheAdapter

from .cache import AliasCache

SETTING = "APPAUTH"
SPELL = "APPAUTH['{}']"  # AppAuthConfig.from_mapping's spelling of a key, for messages
WATCHED_SETTINGS = frozenset({SETTING, "CACHES"})
# Keys only Django has (the core knows no management commands and no system checks):
COMMANDS_WITHOUT_SECRETS = "COMMANDS_WITHOUT_SECRETS"  # commands that start when a reference cannot be read
ONLINE_CHECKS = "ONLINE_CHECKS"  # `check --deploy` signs in and reads the vault without --tag appauth_online
DJANGO_KEYS = (COMMANDS_WITHOUT_SECRETS, ONLINE_CHECKS)
SERVING_COMMANDS = frozenset({"runserver", "testserver"})


def spell(key: str) -> str:
    """A key of ``APPAUTH`` as the user writes it, for messages: ``APPAUTH['KEY_VAULT_URL']``."""
    return SPELL.format(key)


def user_settings() -> Mapping[str, Any]:
    """``settings.APPAUTH`` (``{}`` when absent); ``ConfigError`` when it is not a dict."""
    value = getattr(settings, SETTING, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{SETTING} must be a dict, e.g. {{'KEY_VAULT_URL': 'https://myvault.vault.azure.net/'}}, "
            f"not {type(value).__name__}.",
            key=SETTING,
        )
    return value


def read_config(values: Mapping[str, Any] | None = None) -> AppAuthConfig:
    """``APPAUTH`` (or ``values``) validated; unknown keys and wrong types raise ``ConfigError``. The keys
    only Django has (``DJANGO_KEYS``) are read by ``commands_without_secrets()`` and ``online_checks()``."""
    values = user_settings() if values is None else values
    hint = " (from an environment variable, or with appauth_django.settings.keyvault_secret(...))"
    core = {key: value for key, value in values.items() if key not in DJANGO_KEYS}
    return AppAuthConfig.from_mapping(core, spell=SPELL, reference_hint=hint)


def commands_without_secrets(values: Mapping[str, Any] | None = None) -> frozenset[str]:
    """``APPAUTH['COMMANDS_WITHOUT_SECRETS']``: management commands that still start when a reference cannot
    be read (``appauth_django.startup``). ``ConfigError`` for anything but a list of command names that do
    not serve requests; at start-up a wrong value counts as none (``appauth.E007`` reports it)."""
    values = user_settings() if values is None else values
    names = values.get(COMMANDS_WITHOUT_SECRETS) or ()
    key = spell(COMMANDS_WITHOUT_SECRETS)
    if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
        raise ConfigError(f"{key} must be a list of management command names, e.g. ['collectstatic'].", key=key)
    serving = sorted(SERVING_COMMANDS.intersection(names))
    if serving:
        raise ConfigError(
            f"{key} cannot hold {', '.join(serving)}: a command that serves requests must never start with a "
            "@Microsoft.KeyVault(...) reference in place of its secret.",
            key=key,
        )
    return frozenset(names)


def online_checks(values: Mapping[str, Any] | None = None) -> bool:
    """``APPAUTH['ONLINE_CHECKS']`` (False): ``check --deploy`` signs in and reads every secret even without
    ``--tag appauth_online``. ``ConfigError`` when it is not True or False."""
    values = user_settings() if values is None else values
    value = values.get(ONLINE_CHECKS, False)
    if not isinstance(value, bool):
        key = spell(ONLINE_CHECKS)
        raise ConfigError(f"{key} must be True or False, not {value!r}.", key=key)
    return value


def build_services(config: AppAuthConfig, *, shared: bool = True) -> AppAuthServices:
    """The services for ``config``; a wrong value raises ``ConfigError`` naming where the user wrote it.
    ``shared=False`` leaves the shared cache out (``settings.py`` runs before Django's caches exist)."""
    return AppAuthServices(config, shared_cache=shared_cache(config) if shared else None, spell=SPELL)


def shared_cache(config: AppAuthConfig) -> SharedSecretCache | None:
    """``APPAUTH['CACHE']`` (a ``CACHES`` alias, or a ``RedisSecretCache``) as the shared secret cache, or None."""
    if config.cache is None:
        return None
    alias = config.cache
    if isinstance(alias, RedisSecretCache):  # Django's Redis backend unpickles what it reads; this one never does
        return alias
    if not isinstance(alias, str) or alias not in settings.CACHES:
        raise ConfigError(
            f"{spell('CACHE')} must name a cache in CACHES (e.g. a redis cache) or be a RedisSecretCache, not "
            f"{alias!r}. "
            f"CACHES has: {', '.join(map(repr, settings.CACHES)) or 'nothing'}.",
            key=spell("CACHE"),
        )
    return ObjectCacheAdapter(AliasCache(alias))


class _Current:
    """The process's services, built on first use; ``reset`` drops them (settings changed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: AppAuthServices | None = None
        fork_safety.new_lock_in_child(self)

    def get(self) -> AppAuthServices:
        services = self._services
        if services is not None:
            return services
        with self._lock:
            if self._services is None:
                self._services = _build_or_explain()
            return self._services

    def reset(self) -> None:
        with self._lock:
            old, self._services = self._services, None
        if old is not None:
            old.close()


def _build_or_explain() -> AppAuthServices:
    try:
        return build_services(read_config())
    except AppAuthError as error:
        message = f"{error} (`python manage.py check` lists every appauth setting problem)"
    raise ImproperlyConfigured(message)  # outside the except block: no chained traceback to show


_current = _Current()


def get_services() -> AppAuthServices:
    """The ``AppAuthServices`` for the current settings: the provider (an azure-core credential for Azure SDK
    clients), the vault client and the configuration, for code that needs more than ``request.appauth``.
    Not reachable from templates. ``ImproperlyConfigured`` when ``APPAUTH`` is wrong."""
    return _current.get()


def request_appauth() -> RequestAppAuth:
    """What ``request.appauth`` is: tokens, secrets and the principal of the services for the current
    settings, and nothing a template could turn into a secret. ``ImproperlyConfigured`` as ``get_services``."""
    return RequestAppAuth(get_services())


def reload() -> None:
    """Forget the services; the next use builds them from the settings as they are now."""
    _current.reset()


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver, connected in ``AppConfig.ready()``."""
    if setting in WATCHED_SETTINGS:
        reload()
