"""``@Microsoft.KeyVault(...)`` values in ``app.config``, resolved once at ``init_app``.

Flask's guide says configuration should not change after setup, so this is the one moment appauth writes
to ``app.config``: every reference (nested dicts, lists and tuples too) is replaced by its secret, or
``init_app`` raises naming the key. The literal reference is never left for code to use as a password.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from appauth_core.keyvault import find_references
from appauth_core.web import AppAuthServices, changed_settings, spell_path

spell = spell_path  # DB['OPTIONS']['password'], HOSTS[0]


def find_config_references(app: Flask) -> dict[str, str]:
    """{spelled setting: reference} still in ``app.config`` (all of them when resolution is off)."""
    return {spell(path): reference for path, reference in find_references(_app_settings(app))}


def resolve_config_references(app: Flask, services: AppAuthServices) -> None:
    """Replace every reference in ``app.config`` by its value, all fetched concurrently; raises
    ``ReferenceResolutionError`` (naming the key, never a value) and leaves ``app.config`` untouched."""
    current = _app_settings(app)
    resolved = services.resolve_references(current, spell=spell)
    app.config.update(changed_settings(current, resolved))


def _app_settings(app: Flask) -> dict[str, Any]:
    """``app.config`` without appauth's own keys: the only one that may hold a reference,
    ``APPAUTH_CACHE_ENCRYPTION_KEY``, is read by ``KeyVaultSecrets`` itself and must never pass through
    the shared cache it protects."""
    return {key: value for key, value in app.config.items() if not str(key).startswith("APPAUTH_")}
