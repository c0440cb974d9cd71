"""Secrets for ``settings.py`` itself: ``keyvault_secret(...)`` and ``keyvault_secrets(...)``.

Most settings should simply hold a ``@Microsoft.KeyVault(...)`` reference: appauth resolves those when the
app loads (``appauth_django.resolution``). These functions are for the settings Django reads *before*
that moment (``LOGGING``'s handlers, anything an app listed before ``appauth_django`` reads in its own
``ready()``), and for values computed from a secret. They read Key Vault right away, while ``settings.py``
is imported::

    from appauth_django.settings import keyvault_secret

    APPAUTH = {"KEY_VAULT_URL": "https://myvault.vault.azure.net/"}
    SENTRY_DSN = keyvault_secret("sentry-dsn", APPAUTH)

The ``APPAUTH`` dict tells them which identity and vault to use; its ``CACHE`` is not used (Django's caches
do not exist yet while the settings are being read). A secret that cannot be read raises
``ImproperlyConfigured`` naming it and the reason, never a value, except in the commands that must start
anyway (``manage.py help``, ``check``, ``appauth ...``, ``APPAUTH['COMMANDS_WITHOUT_SECRETS']``; see
``appauth_django.startup``), and with ``APPAUTH_RESOLVE_REFERENCES=0``: there the setting gets a
``@Microsoft.KeyVault(SecretUri=...)`` reference to the secret instead, which the system checks then report
like any other reference left unresolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from appauth_core import AppAuthServices, is_reference
from appauth_core.errors import AppAuthError

from . import secret_values
from ._sensitive import hide_locals

__all__ = ["keyvault_secret", "keyvault_secrets"]

T = TypeVar("T", str, dict[str, str])


@hide_locals
def keyvault_secret(name: str, appauth: Mapping[str, Any] | None = None, *, version: str | None = None) -> str:
    """The value of ``name`` (a secret in ``appauth['KEY_VAULT_URL']``) or of a ``@Microsoft.KeyVault(...)``
    reference. ``appauth``: the project's ``APPAUTH`` dict (None: the identity from the environment, and
    references only). ``version``: a pinned version of a named secret."""
    if version is not None:
        return _read(
            appauth, lambda services: services.secret(name, version), name, lambda: _unread(appauth, name, version)
        )
    return keyvault_secrets([name], appauth)[name]


@hide_locals
def keyvault_secrets(names: Iterable[str], appauth: Mapping[str, Any] | None = None) -> dict[str, str]:
    """{name or reference: value} for several secrets, read concurrently (one round trip for all)."""
    wanted = list(dict.fromkeys(names))
    references = [item for item in wanted if is_reference(item)]
    plain = [item for item in wanted if not is_reference(item)]

    def read(services: AppAuthServices) -> dict[str, str]:
        values = services.secrets.get_many(plain) if plain else {}
        values.update(zip(references, services.secrets.resolve_all(references), strict=True))
        return {item: values[item] for item in wanted}

    def unread() -> dict[str, str] | None:
        placeholders = {item: text for item in wanted if (text := _unread(appauth, item)) is not None}
        return placeholders if len(placeholders) == len(wanted) else None

    return _read(appauth, read, ", ".join(wanted), unread)


@hide_locals
def _read(
    appauth: Mapping[str, Any] | None,
    read: Callable[[AppAuthServices], T],
    label: str,
    unread: Callable[[], T | None],
) -> T:
    from .conf import build_services, read_config  # only when called: importing this module stays cheap
    from .startup import settings_time_mode

    mode = settings_time_mode(appauth)
    placeholder = unread() if mode != "serve" else None
    if mode == "print" and placeholder is not None:
        return placeholder  # this process only prints (help) or leaves references unresolved: nothing is read
    try:
        config = replace(read_config(appauth or {}), cache=None)
        services = build_services(config, shared=False)
    except AppAuthError as error:
        problem = f"APPAUTH given to keyvault_secret() is not valid: {error}"
    else:
        try:
            value = read(services)
        except AppAuthError as error:
            problem = f"Could not read the Key Vault secret {label} for the settings: {error}"
        else:
            _remember(value)
            return value
        finally:
            services.close()
    if placeholder is not None:
        return placeholder  # a command that starts anyway; its system checks say why the secret is not there
    raise ImproperlyConfigured(problem)  # outside the except blocks: no chained frames with values


def _unread(appauth: Mapping[str, Any] | None, name: str, version: str | None = None) -> str | None:
    """What a setting holds when ``name`` is not read: a reference to it (None without a vault to name)."""
    if is_reference(name):
        return name
    vault = (appauth or {}).get("KEY_VAULT_URL")
    if not isinstance(vault, str) or not vault:
        return None
    return f"@Microsoft.KeyVault(SecretUri={vault.rstrip('/')}/secrets/{name}{'/' + version if version else ''})"


def _remember(value: str | Mapping[str, str]) -> None:
    for item in [value] if isinstance(value, str) else value.values():
        secret_values.remember(item)
