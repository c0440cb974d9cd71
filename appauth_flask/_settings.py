"""Reading ``APPAUTH_*`` keys from ``app.config`` into the core's objects (Authlib's ``load_config`` hook).

Everything here runs once, in ``init_app``, so a wrong setting stops the app at startup with the key in
the message, never on the first request that happens to need it.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace
from typing import Any

from flask import Flask

from appauth_core import AppAuthServices, SharedSecretCache
from appauth_core.web import (
    AppAuthConfig,
    ConfigError,
    ObjectCacheAdapter,
    SettingNameWarning,
    look_alike,
    resolution_override,
)

PREFIX = "APPAUTH_"
SPELL = PREFIX + "{}"
API_PREFIX = "API_"
API_SPELL = PREFIX + API_PREFIX + "{}"  # the validator's settings are keys of their own: APPAUTH_API_AUDIENCE


def read_config(app: Flask) -> AppAuthConfig:
    """``APPAUTH_*`` keys of ``app.config`` as an ``AppAuthConfig``; unknown ``APPAUTH_*`` keys are errors
    (a typo such as ``APPAUTH_KEYVAULT_URL`` would otherwise silently mean "no vault"). The environment
    variable ``APPAUTH_RESOLVE_REFERENCES`` (0 or 1), when set, wins over the config's key of that name."""
    warn_about_look_alikes(app)
    values = _with_events(_with_api(app.config.get_namespace(PREFIX, lowercase=False, trim_namespace=True)))
    config = AppAuthConfig.from_mapping(values, spell=SPELL, api_spell=API_SPELL)
    override = resolution_override()
    return config if override is None else replace(config, resolve_references=override)


def _with_api(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the ``API_*`` keys gathered into the one ``API`` dict the core reads (Django's shape)."""
    if "API" in values:
        raise ConfigError(
            f"{SPELL.format('API')} is not read: Flask's settings for the tokens this app is called with are keys of "
            f"their own, e.g. {API_SPELL.format('AUDIENCE')} and {API_SPELL.format('TENANT_ID')}.",
            key=SPELL.format("API"),
        )
    api = {key[len(API_PREFIX) :]: values.pop(key) for key in list(values) if key.startswith(API_PREFIX)}
    return {**values, "API": api} if api else values


def _with_events(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the ``EVENTS_*`` keys gathered into the one ``EVENTS`` dict the core reads."""
    events = {key[len("EVENTS_") :]: values.pop(key) for key in list(values) if key.startswith("EVENTS_")}
    return {**values, "EVENTS": events} if events else values


def warn_about_look_alikes(app: Flask) -> None:
    """A ``SettingNameWarning`` for each key of ``app.config`` named almost as appauth's but not read
    (``APP_AUTH_KEY_VAULT_URL``, ``appauth_key_vault_url``, Django's ``APPAUTH`` dict), pointing at the code
    that called ``init_app``. ``APPAUTH_*`` keys themselves are checked by ``read_config``."""
    for key in list(app.config):
        found = look_alike(key)
        if found is None or found.prefixed:
            continue
        meant = SPELL.format(found.key) if found.key else f"{PREFIX}* keys, e.g. {SPELL.format('KEY_VAULT_URL')}"
        warnings.warn(
            f"app.config[{key!r}] is not read by appauth: did you mean {meant}? Flask's appauth settings are "
            f"upper-case {PREFIX}* keys.",
            SettingNameWarning,
            stacklevel=_callers_level(),
        )


def _callers_level() -> int:
    """``warnings.warn``'s stacklevel for the first frame outside appauth (the user's ``init_app`` call)."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        ("appauth_flask", "appauth_core")
    ):
        level, frame = level + 1, frame.f_back
    return level


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
