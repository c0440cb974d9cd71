"""The two service-to-service settings, read for both adapters: ``API`` (how this app checks the tokens it is
called with: Django's ``APPAUTH["API"] = {"AUDIENCE": ...}``, Flask's ``APPAUTH_API_AUDIENCE`` ...) and
``DOWNSTREAM_APIS`` (the APIs it calls: ``{"orders": {"BASE_URL": ..., "RESOURCE": ..., "TIMEOUT": ...}}``).

A wrong value is a ``ConfigError`` whose ``setting`` is the user's own spelling, down to the inner key
(``APPAUTH['DOWNSTREAM_APIS']['orders']['BASE_URL']``, ``APPAUTH_API_AUDIENCE``). The values of ``API`` are
checked by the validator itself (``validator_from_settings``), so there is one rule for them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..calls import check_base_url
from ..errors import ConfigError
from ..validation import validator_from_settings
from ..validation._settings import KEYS as API_KEYS

__all__ = ["API_KEYS", "DownstreamApiSettings", "read_api", "read_downstream_apis"]

DOWNSTREAM_KEYS = ("BASE_URL", "RESOURCE", "TIMEOUT")
EXAMPLE_DOWNSTREAM = "{'orders': {'BASE_URL': 'https://orders.example.com/', 'RESOURCE': 'api://orders'}}"


@dataclass(frozen=True)
class DownstreamApiSettings:
    """One entry of ``DOWNSTREAM_APIS``: the API's base URL, the resource (App ID URI or client id) its tokens
    are for, and the per-request timeout in seconds (None: the session's default)."""

    name: str
    base_url: str
    resource: str
    timeout: float | None = None


def read_api(value: Any, *, setting: str, spell: str) -> Mapping[str, Any] | None:
    """``API`` checked (by building the validator it describes, which does no I/O) and kept as a read-only
    copy; None when it is not set. ``setting`` spells the whole dict (``APPAUTH['API']``), ``spell`` an inner
    key (``"APPAUTH['API']['{}']"``, Flask's ``"APPAUTH_API_{}"``)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{setting} must be a dict such as {{'AUDIENCE': 'api://orders', 'TENANT_ID': '<tenant id>'}}, "
            f"not {type(value).__name__}.",
            key=setting,
        )
    copy = MappingProxyType(dict(value))
    validator_from_settings(copy, spell=spell)
    return copy


def read_downstream_apis(value: Any, *, setting: str) -> tuple[DownstreamApiSettings, ...]:
    """``DOWNSTREAM_APIS`` checked; ``setting`` is how the user spells the whole dict."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{setting} must be a dict of named APIs, e.g. {EXAMPLE_DOWNSTREAM}, not {type(value).__name__}.",
            key=setting,
        )
    return tuple(_downstream_api(name, entry, setting) for name, entry in value.items())


def _downstream_api(name: Any, entry: Any, setting: str) -> DownstreamApiSettings:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{setting}: an API's name must be a non-empty string, not {name!r}.", key=setting)
    where = f"{setting}[{name!r}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where} must be a dict such as {{'BASE_URL': 'https://orders.example.com/', 'RESOURCE': "
            f"'api://orders'}}, not {type(entry).__name__}.",
            key=where,
        )
    for key in entry:
        if key not in DOWNSTREAM_KEYS:
            close = difflib.get_close_matches(str(key), DOWNSTREAM_KEYS, n=1)
            hint = f" Did you mean {where}[{close[0]!r}]?" if close else ""
            raise ConfigError(
                f"Unknown key {where}[{key!r}].{hint} Valid keys: {', '.join(DOWNSTREAM_KEYS)}.",
                key=f"{where}[{key!r}]",
            )
    return DownstreamApiSettings(
        name=name,
        base_url=_base_url(entry.get("BASE_URL"), f"{where}['BASE_URL']"),
        resource=_resource(entry.get("RESOURCE"), f"{where}['RESOURCE']"),
        timeout=_timeout(entry.get("TIMEOUT"), f"{where}['TIMEOUT']"),
    )


def _base_url(value: Any, setting: str) -> str:
    """An https URL (http only to a loopback host): the outbound auth's own rule, named as the user wrote it."""
    check_base_url(value, setting=setting)
    return str(value)


def _resource(value: Any, setting: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ConfigError(
            f"{setting} is required: the App ID URI (e.g. 'api://orders') or client id the API's tokens are for, "
            f"as a string without spaces, not {value!r}.",
            key=setting,
        )
    return value


def _timeout(value: Any, setting: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"{setting} must be a number of seconds > 0 (e.g. 10), not {value!r}.", key=setting)
    return float(value)
