"""What a ``DATABASES`` entry that uses an appauth backend may say, and the token password it gets.

``USER`` is the principal's name on the server and there is no ``PASSWORD``; the entry's optional
``"APPAUTH": {"CONNECTION_STRING": ..., "RESOURCE": ...}`` picks another identity than the app's (``APPAUTH``)
and another resource than ``https://ossrdbms-aad.database.windows.net`` (sovereign clouds: the default
follows ``APPAUTH['AZURE_AD_INSTANCE']``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from appauth_core import AzureServiceTokenProvider
from appauth_core._internal import fork_safety
from appauth_core.databases import TokenPassword
from appauth_core.errors import AppAuthError

from .. import conf

ENTRY_KEY = "APPAUTH"
ENTRY_KEYS = ("CONNECTION_STRING", "RESOURCE")

_providers: dict[str, AzureServiceTokenProvider] = {}
_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__])


def alias_of(settings_dict: Mapping[str, Any]) -> str:
    """The ``DATABASES`` alias whose entry is ``settings_dict`` (the wrapper's own dict), for messages."""
    from django.db import connections  # type: ignore[import-untyped]

    return next((alias for alias, entry in connections.settings.items() if entry is settings_dict), "default")


def setting(alias: str, *keys: str) -> str:
    return f"DATABASES[{alias!r}]" + "".join(f"[{key!r}]" for key in keys)


def tls_options(
    settings_dict: Mapping[str, Any], alias: str, require: Callable[..., None], option: str
) -> dict[str, Any]:
    """A copy of the entry's ``OPTIONS`` with ``require`` (``require_postgresql_tls`` / ``require_mysqlclient_tls``)
    applied, for ``dbshell``'s client: the same TLS as the app's own connections. ``ImproperlyConfigured`` names
    ``OPTIONS[option]`` when the entry allows a connection without TLS."""
    options: MutableMapping[str, Any] = dict(settings_dict.get("OPTIONS") or {})
    try:
        require(options, key=setting(alias, "OPTIONS", option))
    except AppAuthError as error:
        raise ImproperlyConfigured(str(error)) from None
    return dict(options)


PASSWORD_SET = "appauth.E030"
ENTRY_INVALID = "appauth.E031"


def entry_problems(alias: str, settings_dict: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(check id, message, hint) for each thing wrong with an entry that uses an appauth backend; no I/O."""
    problems: list[tuple[str, str, str]] = []
    options = settings_dict.get("OPTIONS") or {}
    for key, where in (
        ("PASSWORD", setting(alias, "PASSWORD")),
        ("password", setting(alias, "OPTIONS", "password")),
        ("passwd", setting(alias, "OPTIONS", "passwd")),
    ):
        source = settings_dict if key == "PASSWORD" else options
        if source.get(key):
            problems.append(
                (
                    PASSWORD_SET,
                    f"{where} is set, but {settings_dict.get('ENGINE')} signs in with an Entra ID token and would "
                    "never use it.",
                    f"Remove {where}: USER is the principal's name on the server and the token is the password.",
                )
            )
    extra = settings_dict.get(ENTRY_KEY)
    if extra is not None:
        if not isinstance(extra, Mapping):
            problems.append(
                (ENTRY_INVALID, f"{setting(alias, ENTRY_KEY)} must be a dict, not {extra!r}.", _entry_hint())
            )
        else:
            unknown = sorted(set(extra) - set(ENTRY_KEYS))
            if unknown:
                problems.append(
                    (ENTRY_INVALID, f"{setting(alias, ENTRY_KEY)} has unknown keys {unknown}.", _entry_hint())
                )
            try:
                _password_for(alias, settings_dict)
            except (AppAuthError, ImproperlyConfigured) as error:
                problems.append((ENTRY_INVALID, str(error), _entry_hint()))
    return problems


def _entry_hint() -> str:
    return f"{ENTRY_KEY} in a DATABASES entry takes {', '.join(ENTRY_KEYS)} (both optional)."


def token_password(settings_dict: Mapping[str, Any], alias: str | None = None) -> TokenPassword:
    """The ``TokenPassword`` for this entry; ``ImproperlyConfigured`` for a wrong entry or ``APPAUTH``."""
    alias = alias or alias_of(settings_dict)
    for _check_id, message, hint in entry_problems(alias, settings_dict):
        raise ImproperlyConfigured(f"{message} {hint}")
    return _password_for(alias, settings_dict)


def _password_for(alias: str, settings_dict: Mapping[str, Any]) -> TokenPassword:
    extra = settings_dict.get(ENTRY_KEY) or {}
    connection_string = extra.get("CONNECTION_STRING")
    try:
        if connection_string is None:
            provider = conf.get_services().provider
        else:
            provider = _provider_for(alias, connection_string)
        return TokenPassword.for_provider(provider, extra.get("RESOURCE"), key=setting(alias, ENTRY_KEY, "RESOURCE"))
    except AppAuthError as error:
        raise ImproperlyConfigured(str(error)) from None


def _provider_for(alias: str, connection_string: str) -> AzureServiceTokenProvider:
    """One provider per entry that names its own connection string (its tokens share the process's cache)."""
    key = f"{alias}\0{connection_string}"
    with _lock:
        provider = _providers.get(key)
        if provider is None:
            instance = conf.read_config().azure_ad_instance
            spell = setting(alias, ENTRY_KEY) + "['{}']"  # errors name DATABASES[...]['APPAUTH']['CONNECTION_STRING']
            provider = _providers[key] = AzureServiceTokenProvider(connection_string, instance, spell=spell)
        return provider


def server_of(settings_dict: Mapping[str, Any], default_port: int) -> str:
    return f"{settings_dict.get('HOST') or 'localhost'}:{settings_dict.get('PORT') or default_port}"
