"""What the adapters share about ``@Microsoft.KeyVault(...)`` settings at start-up: the environment switch
that turns their resolution off (builds and CI, where no identity can read the vault), and, for the commands
that run although a reference cannot be read (``manage.py check``, ``flask appauth ...``), which references
cannot be read and why.

Serving with a reference in place of its secret must never happen (a ``SECRET_KEY`` of
``@Microsoft.KeyVault(...)`` is a key everyone knows), so the adapters refuse to serve when one cannot be
read; what is here only lets the commands that diagnose that problem say what it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import AppAuthError, ConfigError
from ..keyvault._secrets import resolve_each
from ._services import AppAuthServices

RESOLVE_VARIABLE = "APPAUTH_RESOLVE_REFERENCES"
_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"1", "true", "yes", "on"})


def resolution_override(environ: Mapping[str, str] | None = None) -> bool | None:
    """``APPAUTH_RESOLVE_REFERENCES`` from the environment: False for ``0`` (also ``false``, ``no``, ``off``),
    True for ``1`` (``true``, ``yes``, ``on``), None when it is not set (the app's own setting decides).
    When set, it wins over the app's ``RESOLVE_REFERENCES`` setting. Any other value raises ``ConfigError``."""
    value = (os.environ if environ is None else environ).get(RESOLVE_VARIABLE)
    if value is None or not value.strip():
        return None
    word = value.strip().lower()
    if word in _OFF:
        return False
    if word in _ON:
        return True
    raise ConfigError(
        f"The environment variable {RESOLVE_VARIABLE} is {value!r}: use 0 to leave @Microsoft.KeyVault(...) "
        "settings unresolved (builds, CI) or 1 to resolve them.",
        key=RESOLVE_VARIABLE,
    )


def unreadable_references(services: AppAuthServices, references: Mapping[str, str]) -> dict[str, str]:
    """{setting: why} for each of ``references`` ({setting: reference text}) whose secret cannot be read, each
    tried once, concurrently with the others (``resolve_each``: a reference shared by several settings is read
    once, and each is parsed and its vault checked before any request). The values read are never unwrapped.
    Failures the vault client remembers (an unreachable vault, a "no" from Key Vault) are answered from memory,
    so trying again right after a failed resolution costs little."""
    outcomes = resolve_each(services.secrets, references.values())
    return {
        setting: f"{type(outcome).__name__}: {outcome}"  # every appauth error message is free of secret values
        for setting, reference in references.items()
        if isinstance(outcome := outcomes[reference], AppAuthError)
    }
