"""Settings-time secrets: every ``@Microsoft.KeyVault(...)`` string in the settings, resolved once, when
the app loads.

Django's rule is that ``AppConfig.ready()`` does no I/O, and this module is the one documented exception:
``AppAuthDjangoConfig.ready()`` calls ``resolve_settings_references()``, which reads every referenced
secret (all at once, concurrently) and writes the values into ``django.conf.settings`` before the first
request. The alternative, resolving lazily, would leave the literal reference in place for any code that
reads the setting first; a ``SECRET_KEY`` of ``@Microsoft.KeyVault(...)`` is a key everyone knows. So a
reference that cannot be read stops the process with ``ImproperlyConfigured`` naming the setting (never a
value). ``APPAUTH['RESOLVE_REFERENCES'] = False`` turns this off (then ``appauth.W002`` lists what stays
unresolved).

Settings read before ``ready()`` (``LOGGING``, settings used by apps listed before ``appauth_django``) see
the references; ``appauth_django.settings.keyvault_secret()`` reads those inside ``settings.py`` itself.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from appauth_core._internal import fork_safety
from appauth_core._internal.frame_locals import clears_locals
from appauth_core.errors import AppAuthError
from appauth_core.keyvault import Path, find_references
from appauth_core.web import ReferenceResolutionError, changed_settings, spell_path

from . import conf, secret_values
from ._sensitive import hide_locals

_lock = threading.Lock()
_resolved: dict[str, str] = {}  # spelled setting -> the reference it held (references are not secret)
fork_safety.new_lock_in_child(sys.modules[__name__])


spell = spell_path  # DATABASES['default']['PASSWORD'], HOSTS[0]


def current_settings() -> dict[str, Any]:
    """Every upper-case setting (Django only honours those), by name, but ``APPAUTH``: appauth reads that
    one itself (a reference as ``CACHE_ENCRYPTION_KEY`` is read, and re-read after a rotation, by the core)."""
    values: dict[str, Any] = {}
    for name in dir(settings):
        if name.isupper() and name != conf.SETTING:
            try:
                values[name] = _read_setting(name)
            except ImproperlyConfigured:  # an empty SECRET_KEY raises on access; it is no reference either
                continue
    return values


def _read_setting(name: str) -> Any:
    # Django 4.2 serves the settings it deprecates (USE_L10N, DEFAULT_FILE_STORAGE, STATICFILES_STORAGE)
    # through LazySettings properties that warn on every read from outside Django; the value under them is
    # LazySettings.__getattr__'s. Reading them all is ours, not the project's use (Django warns at load
    # about a project that sets one).
    if isinstance(getattr(type(settings), name, None), property):
        return settings.__getattr__(name)
    return getattr(settings, name)


def unresolved_references() -> dict[str, str]:
    """{spelled setting: reference} still in the settings (all of them when resolution is off)."""
    return {spell(path): reference for path, reference in find_references(current_settings())}


def configured_references() -> dict[str, str]:
    """Every reference the settings have or had: what ``check`` and the deploy checks read again."""
    with _lock:
        resolved = dict(_resolved)
    return {**resolved, **unresolved_references()}


def resolve_at_startup() -> None:
    """``ready()``'s hook: resolve unless ``APPAUTH['RESOLVE_REFERENCES']`` is False. A broken ``APPAUTH``
    is left to the system checks unless there are references to resolve (then it stops the process)."""
    try:
        enabled = conf.read_config().resolve_references
    except AppAuthError:
        enabled = True  # references must not stay in place because an unrelated setting has a typo
    if enabled:
        resolve_settings_references()


@clears_locals  # for error trackers: the settings as read (earlier secrets) and the secrets being resolved
@hide_locals
def resolve_settings_references() -> list[str]:
    """Replace every reference in the settings by its secret; returns the settings paths changed.

    Raises ``ImproperlyConfigured`` naming the first setting that failed and why (the settings are left
    untouched then). Containers are copied (``replace_references``), never mutated: the settings module's own
    dicts may be shared with other code.
    """
    current = current_settings()
    found = list(find_references(current))
    if not found:
        return []
    services = conf.get_services()  # ImproperlyConfigured when APPAUTH itself is wrong
    try:
        resolved = services.resolve_references(current, spell=spell)
    except ReferenceResolutionError as error:
        failure: str | None = f"{error.setting}: {error.reason}"
    else:
        failure = None
    if failure is not None:
        # Raised outside the except block, so no chained traceback (with the frames that hold the other,
        # already resolved values) travels with it to a log or an error tracker.
        # The reason ends with its own advice (what failed decides it: TLS, DNS, a role, a name): no other here.
        raise ImproperlyConfigured(
            f"Could not read the Key Vault secret for the setting {failure.rstrip('.')}. appauth resolves every "
            "@Microsoft.KeyVault(...) setting at startup and never leaves the reference in place: fix what stops "
            "it from being read, or set APPAUTH['RESOLVE_REFERENCES'] = False."
        )
    _apply(current, resolved)
    with _lock:
        _resolved.update((spell(path), reference) for path, reference in found)
    return [spell(path) for path in resolved]


@hide_locals
def _apply(current: dict[str, Any], resolved: dict[Path, str]) -> None:
    for value in resolved.values():
        secret_values.remember(value)
    for name, value in changed_settings(current, resolved).items():
        setattr(settings, name, value)


def forget() -> None:
    """Forget which settings were resolved (for tests: ``override_settings`` undoes the values)."""
    with _lock:
        _resolved.clear()
