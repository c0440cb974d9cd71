"""``validator_from_settings``: a ``TokenValidator`` from the adapters' ``API`` setting (Django's
``APPAUTH["API"]``, Flask's ``APPAUTH_API_*``), with every wrong value named as the user spells it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._validator import TokenValidator

__all__ = ["KEYS", "validator_from_settings"]

KEYS = ("AUDIENCE", "TENANT_ID", "ALLOWED_TENANTS", "ALLOWED_CLIENT_IDS", "AUTHORITY", "LEEWAY")


def validator_from_settings(api: Mapping[str, Any], *, spell: str) -> TokenValidator:
    """The validator ``api`` describes (keys ``KEYS``, each the ``TokenValidator`` argument of that name; a
    value of None is the argument's default). ``spell`` turns a key into the user's spelling
    (``"APPAUTH['API']['{}']"``, ``"APPAUTH_API_{}"``): a ``ConfigError``'s ``setting`` and message use it.
    Does no I/O."""
    for key in api:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f" Did you mean {spell.format(close[0])}?" if close else ""
            raise ConfigError(
                f"Unknown setting {spell.format(key)}.{hint} Valid keys: {', '.join(spell.format(k) for k in KEYS)}.",
                key=spell.format(key),
            )
    if api.get("AUDIENCE") is None:
        raise ConfigError(
            f"{spell.format('AUDIENCE')} is required: the App ID URI (e.g. 'api://orders') and/or client id the "
            "tokens this app is called with must be for.",
            key=spell.format("AUDIENCE"),
        )
    arguments = {key.lower(): value for key, value in api.items() if value is not None}
    return TokenValidator._from_arguments(arguments, lambda argument: spell.format(argument.upper()))
