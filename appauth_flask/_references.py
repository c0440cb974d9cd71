"""``@Microsoft.KeyVault(...)`` values in ``app.config``, resolved once at ``init_app``.

Flask's guide says configuration should not change after setup, so this is the one moment appauth writes
to ``app.config``: every reference (nested dicts, lists and tuples too) is replaced by its secret, or
``init_app`` raises naming the key. The literal reference is never left for code to use as a password.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from appauth_core.keyvault import Path, find_references, replace_references
from appauth_core.web import AppAuthServices


def spell(path: Path) -> str:
    """A config path as the user would write it: ``DB['OPTIONS']['password']``, ``HOSTS[0]``."""
    head, *rest = path
    return str(head) + "".join(f"[{part!r}]" for part in rest)


def find_config_references(app: Flask) -> dict[str, str]:
    """{spelled setting: reference} still in ``app.config`` (all of them when resolution is off)."""
    return {spell(path): reference for path, reference in find_references(_app_settings(app))}


def resolve_config_references(app: Flask, services: AppAuthServices) -> None:
    """Replace every reference in ``app.config`` by its value, all fetched concurrently; raises
    ``ReferenceResolutionError`` (naming the key, never a value) and leaves ``app.config`` untouched."""
    current = _app_settings(app)
    resolved = services.resolve_references(current, spell=spell)
    updated = replace_references(current, resolved)
    app.config.update({key: updated[key] for key in dict.fromkeys(path[0] for path in resolved)})


def _app_settings(app: Flask) -> dict[str, Any]:
    """``app.config`` without appauth's own keys: the only one that may hold a reference,
    ``APPAUTH_CACHE_ENCRYPTION_KEY``, is read by ``KeyVaultSecrets`` itself and must never pass through
    the shared cache it protects."""
    return {key: value for key, value in app.config.items() if not str(key).startswith("APPAUTH_")}
