"""Reading ``APPAUTH_*`` keys from ``app.config`` into the core's objects (Authlib's ``load_config`` hook).

Everything here runs once, in ``init_app``, so a wrong setting stops the app at startup with the key in
the message, never on the first request that happens to need it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask

from appauth_core.config import AppAuthConfig, ConfigError
from appauth_core.framework_cache import ObjectCacheAdapter
from appauth_core.services import AppAuthServices
from appauth_core.shared_cache import SharedSecretCache
from appauth_core.startup import resolution_override

PREFIX = "APPAUTH_"
SPELL = PREFIX + "{}"


def read_config(app: Flask) -> AppAuthConfig:
    """``APPAUTH_*`` keys of ``app.config`` as an ``AppAuthConfig``; unknown ``APPAUTH_*`` keys are errors
    (a typo such as ``APPAUTH_KEYVAULT_URL`` would otherwise silently mean "no vault"). The environment
    variable ``APPAUTH_RESOLVE_REFERENCES`` (0 or 1), when set, wins over the config's key of that name."""
    values = app.config.get_namespace(PREFIX, lowercase=False, trim_namespace=True)
    config = AppAuthConfig.from_mapping(values, spell=SPELL)
    override = resolution_override()
    return config if override is None else replace(config, resolve_references=override)


def build_services(app: Flask, config: AppAuthConfig) -> AppAuthServices:
    """The app's ``AppAuthServices``; a wrong value raises ``ConfigError`` naming its ``APPAUTH_`` key."""
    return AppAuthServices(config, shared_cache=shared_cache(app, config), spell=SPELL)


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
