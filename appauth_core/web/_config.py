"""The framework-neutral configuration both adapters read their settings into (Authlib's ``load_config``
idea): Django's ``APPAUTH = {...}`` and Flask's ``APPAUTH_*`` keys become one ``AppAuthConfig``, validated
in one place, so a typo is caught the same way in both."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..events import KEYS as EVENTS_KEYS
from ..events import EventsSettings, read_events
from ..keyvault._references import DEFAULT_VAULT_SUFFIX
from ..keyvault._walk import find_references
from ..tokens._vault_hosts import suffix_pattern
from ..tokens._vault_scope import key_vault_resource
from ._api_settings import API_KEYS, DownstreamApiSettings, read_api, read_downstream_apis

# Setting names without a framework prefix; Django spells them as keys of APPAUTH, Flask as APPAUTH_<NAME>.
KEYS = (
    "CONNECTION_STRING",
    "AZURE_AD_INSTANCE",
    "KEY_VAULT_URL",
    "SECRET_CACHE_SECONDS",
    "TEMPLATE_SECRETS",
    "RESOLVE_REFERENCES",
    "CACHE",
    "CACHE_ENCRYPTION_KEY",
    "ALLOWED_VAULT_HOSTS",
    "VAULT_SUFFIX",
    "KEY_VAULT_RESOURCE",
    "API",
    "DOWNSTREAM_APIS",
    "EVENTS",
)


@dataclass(frozen=True)
class AppAuthConfig:
    connection_string: str | None = field(default=None, repr=False)
    azure_ad_instance: str | None = None
    key_vault_url: str | None = None
    secret_cache_seconds: float = 300.0
    template_secrets: frozenset[str] = frozenset()
    resolve_references: bool = True
    cache: Any = None  # a framework cache (Django alias name / Flask-Caching object); the adapter wraps it
    cache_encryption_key: str | None = field(default=None, repr=False)
    allowed_vault_hosts: tuple[str, ...] = ()
    vault_suffix: str = DEFAULT_VAULT_SUFFIX  # what VaultName= references resolve under
    key_vault_resource: str | None = None  # a Key Vault resource besides Azure's own (KeyVaultSecrets)
    # How this app checks the tokens it is called with (validator_from_settings' keys), None: it does not.
    api: Mapping[str, Any] | None = None
    api_spell: str = field(default="API['{}']", repr=False, compare=False)  # a key of ``api``, as the user spells it
    downstream_apis: tuple[DownstreamApiSettings, ...] = ()  # the APIs this app calls, by name
    events: EventsSettings | None = None  # Key Vault rotation events through Event Grid, None: off

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, spell: str = "{}", reference_hint: str = "", api_spell: str | None = None
    ) -> AppAuthConfig:
        """Validate ``values`` (keys from ``KEYS``). ``spell`` turns a key into the user's spelling for
        messages: ``"APPAUTH['{}']"`` for Django, ``"APPAUTH_{}"`` for Flask. ``reference_hint`` ends the
        message for a setting that is wrongly a Key Vault reference (how to set it in this framework).
        ``api_spell``: how the keys of ``API`` are spelled when the adapter reads them as settings of their
        own (Flask's ``"APPAUTH_API_{}"``); None: ``API`` is one nested dict (``APPAUTH['API']['AUDIENCE']``)."""
        _refuse_references(values, spell, reference_hint)
        unknown = [key for key in values if key not in KEYS]
        if unknown:
            key, valid = unknown[0], _valid_settings(spell, api_spell)
            close = difflib.get_close_matches(spell.format(key), valid, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise ConfigError(
                f"Unknown appauth setting {spell.format(key)}.{hint} Valid settings: " + ", ".join(valid),
                key=spell.format(key),
            )
        nested_api_spell = spell.format("API") + "['{}']"
        return cls(
            connection_string=_optional_str(values, "CONNECTION_STRING", spell),
            azure_ad_instance=_optional_str(values, "AZURE_AD_INSTANCE", spell),
            key_vault_url=_optional_str(values, "KEY_VAULT_URL", spell),
            secret_cache_seconds=_seconds(values, "SECRET_CACHE_SECONDS", spell),
            template_secrets=frozenset(_names(values, "TEMPLATE_SECRETS", spell)),
            resolve_references=_flag(values, "RESOLVE_REFERENCES", spell, default=True),
            cache=values.get("CACHE"),
            cache_encryption_key=_optional_str(values, "CACHE_ENCRYPTION_KEY", spell),
            allowed_vault_hosts=tuple(_names(values, "ALLOWED_VAULT_HOSTS", spell)),
            vault_suffix=_vault_suffix(values, "VAULT_SUFFIX", spell),
            key_vault_resource=_key_vault_resource(values, "KEY_VAULT_RESOURCE", spell),
            api=read_api(values.get("API"), setting=spell.format("API"), spell=api_spell or nested_api_spell),
            api_spell=api_spell or nested_api_spell,
            downstream_apis=read_downstream_apis(
                values.get("DOWNSTREAM_APIS"), setting=spell.format("DOWNSTREAM_APIS")
            ),
            events=_events(values, spell),
        )


def _events(values: Mapping[str, Any], spell: str) -> EventsSettings | None:
    """``EVENTS``, its keys spelled as the adapter spells a key: nested in one dict (``APPAUTH['EVENTS']['AUDIENCE']``)
    or, where settings are flat prefixed names (``APPAUTH_{}``), settings of their own (``APPAUTH_EVENTS_AUDIENCE``);
    its tenant and authority default to ``API``'s."""
    api = values.get("API")
    flat = spell.endswith("_{}")
    events_spell = spell.format("EVENTS_{}") if flat else spell.format("EVENTS") + "['{}']"
    return read_events(
        values.get("EVENTS"),
        spell=events_spell,
        api=api if isinstance(api, Mapping) else None,
        setting=spell.format("EVENTS"),
    )


def _valid_settings(spell: str, api_spell: str | None) -> list[str]:
    """Every setting, as the user spells it: ``API``'s keys one by one where they are settings of their own."""
    names = [spell.format(key) for key in KEYS if key not in ("API", "EVENTS") or api_spell is None]
    if api_spell is None:
        return names
    return [*names, *(api_spell.format(key) for key in API_KEYS), *(spell.format(f"EVENTS_{k}") for k in EVENTS_KEYS)]


# appauth reads these settings to reach the vault, so they cannot come from it. The encryption key can: the
# core reads it (and re-reads it after a rotation) with the identity the other settings configure.
MAY_BE_A_REFERENCE = frozenset({"CACHE_ENCRYPTION_KEY"})


def _refuse_references(values: Mapping[str, Any], spell: str, hint: str) -> None:
    for key, value in values.items():
        if key not in MAY_BE_A_REFERENCE and next(find_references(value), None) is not None:
            raise ConfigError(
                f"{spell.format(key)} cannot be a @Microsoft.KeyVault(...) reference: appauth reads it to reach "
                f"Key Vault. Set the value itself{hint or ' (e.g. from an environment variable)'}.",
                key=spell.format(key),
            )


def _optional_str(values: Mapping[str, Any], key: str, spell: str) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{spell.format(key)} must be a string, not {type(value).__name__}.", key=spell.format(key))
    return value


def _vault_suffix(values: Mapping[str, Any], key: str, spell: str) -> str:
    value = _optional_str(values, key, spell)
    if value is None:
        return DEFAULT_VAULT_SUFFIX
    try:
        suffix_pattern(value)  # what the allow-list will add: checked here, where the setting's name is known
    except ValueError as exc:
        raise ConfigError(
            f"{spell.format(key)} {value!r} is not a vault suffix ({exc}). Use the cloud's Key Vault suffix, "
            "e.g. 'vault.azure.cn', or the local emulator's address, e.g. '127.0.0.1:8443'.",
            key=spell.format(key),
        ) from None
    return value


def _seconds(values: Mapping[str, Any], key: str, spell: str) -> float:
    value = values.get(key, 300)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(
            f"{spell.format(key)} must be a number of seconds >= 0 (e.g. 300), not {value!r}.", key=spell.format(key)
        )
    return float(value)


def _flag(values: Mapping[str, Any], key: str, spell: str, *, default: bool) -> bool:
    value = values.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{spell.format(key)} must be True or False, not {value!r}.", key=spell.format(key))
    return value


def _names(values: Mapping[str, Any], key: str, spell: str) -> Iterable[str]:
    value = values.get(key) or ()
    if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(
            f"{spell.format(key)} must be a list of non-empty strings, e.g. ['public-banner'].", key=spell.format(key)
        )
    return list(value)


def _key_vault_resource(values: Mapping[str, Any], key: str, spell: str) -> str | None:
    value = _optional_str(values, key, spell)
    try:
        return key_vault_resource(value, setting=spell.format(key)) if value is not None else None
    except ValueError as exc:
        raise ConfigError(str(exc), key=spell.format(key)) from None
