"""Reading the ``AzureServicesAuthConnectionString`` (``RunAs=App;AppId=...``) into ``ConnectionSettings``.

The keys (``KEYS``) and the methods a string can select (``METHODS``) are tables of records: adding a key or
a method is a record there (and, for a method, its name in ``Source`` and its builder in ``selection``). The
grammar, .NET's: ``connection_string_syntax``. ``RunAs``, ``DeveloperTool`` and ``CertificateStoreLocation``
values are case-insensitive; other values keep their case. Where appauth deliberately differs from .NET 1.6.2
(mistakes are errors, messages never quote a value ...): docs/tokens.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlsplit

from .._internal.frame_locals import clears_locals
from ..errors import ConnectionStringError
from ._connection_string_syntax import (
    APP_KEY,
    ENVIRONMENT_VARIABLE,
    PREFIX,
    QUOTE_SECRET_HINT,
    Pair,
    canonical_key,
    check_not_empty,
    check_not_wrapped_in_quotes,
    describe_key,
    quote_value,
    taint_start,
    tokenize,
)

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "KEYS",
    "METHODS",
    "REDACTED",
    "SOURCES",
    "VALID_KEYS",
    "ConnectionSettings",
    "Key",
    "Method",
    "Source",
    "parse_connection_string",
]

Source = Literal[
    "azure_cli",
    "visual_studio",
    "current_user",
    "managed_identity",
    "client_secret",
    "certificate",
    "key_vault_certificate",
]
SOURCES: tuple[Source, ...] = get_args(Source)

REDACTED = "<<Redacted>>"

RUN_AS = "RunAs"
DEVELOPER_TOOL = "DeveloperTool"
APP_ID = "AppId"
TENANT_ID = "TenantId"
CERTIFICATE_THUMBPRINT = "CertificateThumbprint"
CERTIFICATE_SUBJECT_NAME = "CertificateSubjectName"
CERTIFICATE_STORE_LOCATION = "CertificateStoreLocation"
KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER = "KeyVaultCertificateSecretIdentifier"
KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID = "KeyVaultUserAssignedManagedIdentityId"
MSI_RETRY_TIMEOUT = "MsiRetryTimeout"
AZURE_AD_INSTANCE = "AzureAdInstance"

DEVELOPER, CURRENT_USER, APP = "Developer", "CurrentUser", "App"
AZURE_CLI_TOOL, VISUAL_STUDIO_TOOL = "AzureCli", "VisualStudio"
LOCAL_MACHINE = "LocalMachine"
_MAX_INT32 = 2**31 - 1  # .NET parsed MsiRetryTimeout as an int


def _as_is(value: str) -> str:
    return value


@dataclass(frozen=True)
class Key:
    """One connection-string key. ``attribute``: the ``ConnectionSettings`` field it fills; ``expects``: what
    its value should be (the "how to fix" half of messages about it); ``belongs_to``: what it is for, told to
    someone who gave it to a method that does not read it; ``secret``: never shown; ``canonical``: its value
    checked and made canonical; ``integer``: an int in ``ConnectionSettings``."""

    name: str
    attribute: str
    expects: str
    belongs_to: str
    secret: bool = False
    canonical: Callable[[str], str] = _as_is
    integer: bool = False


# In the order keys are written (``to_connection_string``). The canonical forms are defined further down.
KEYS: tuple[Key, ...] = (
    Key(RUN_AS, "run_as", "Developer, CurrentUser or App", "every method"),
    Key(
        DEVELOPER_TOOL,
        "developer_tool",
        "AzureCli or VisualStudio",
        "RunAs=Developer",
        canonical=lambda value: _developer_tool(value),
    ),
    Key(
        APP_ID,
        "app_id",
        "the application (client) ID",
        "RunAs=App (a user-assigned managed identity, a client secret or a certificate)",
    ),
    Key(
        TENANT_ID,
        "tenant_id",
        "the directory (tenant) ID or domain",
        "a client secret or a certificate (RunAs=App with AppId and AppKey or a certificate)",
    ),
    Key(
        APP_KEY,
        "app_key",
        "the client secret",
        "a client secret: RunAs=App;AppId=...;TenantId=...;AppKey=...",
        secret=True,
    ),
    Key(
        CERTIFICATE_THUMBPRINT,
        "certificate_thumbprint",
        "the certificate's SHA-1 thumbprint",
        "a certificate from the store: RunAs=App;AppId=...;TenantId=...;CertificateThumbprint=...;"
        "CertificateStoreLocation=CurrentUser",
    ),
    Key(
        CERTIFICATE_SUBJECT_NAME,
        "certificate_subject_name",
        "the certificate's subject, e.g. CN=myapp",
        "a certificate from the store: RunAs=App;AppId=...;TenantId=...;CertificateSubjectName=CN=...;"
        "CertificateStoreLocation=CurrentUser",
    ),
    Key(
        CERTIFICATE_STORE_LOCATION,
        "certificate_store_location",
        "CurrentUser or LocalMachine",
        "a certificate from the store (with CertificateThumbprint or CertificateSubjectName)",
        canonical=lambda value: _store_location(value),
    ),
    Key(
        KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER,
        "key_vault_certificate_secret_identifier",
        "the certificate's Key Vault secret URL, e.g. https://myvault.vault.azure.net/secrets/mycert",
        "a certificate kept in Key Vault: RunAs=App;AppId=...;KeyVaultCertificateSecretIdentifier=https://...",
    ),
    Key(
        KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID,
        "key_vault_user_assigned_managed_identity_id",
        "the client ID of the user-assigned managed identity that reads the Key Vault certificate",
        "a certificate kept in Key Vault (with KeyVaultCertificateSecretIdentifier), read with a user-assigned "
        "managed identity",
    ),
    Key(
        MSI_RETRY_TIMEOUT,
        "msi_retry_timeout",
        "a whole number of seconds, 0 or more",
        "managed identity (RunAs=App without AppKey or a certificate) and Key Vault certificates",
        canonical=lambda value: _msi_retry_timeout(value),
        integer=True,
    ),
    Key(
        AZURE_AD_INSTANCE,
        "azure_ad_instance",
        "the https URL of the Microsoft Entra ID host, e.g. https://login.microsoftonline.com/",
        "methods that sign in to Microsoft Entra ID directly: a client secret, a certificate, a Key Vault "
        "certificate and RunAs=CurrentUser",
        canonical=lambda value: _azure_ad_instance(value),
    ),
)
VALID_KEYS: tuple[str, ...] = tuple(key.name for key in KEYS)
_KEYS = {key.name: key for key in KEYS}
_KEYS_BY_LOWER = {key.name.lower(): key.name for key in KEYS}


def _no_check(values: Mapping[str, str]) -> None:
    """A method whose selection needs nothing more."""


@dataclass(frozen=True)
class Method:
    """One way of getting a token a connection string can select. ``source``: what it builds (two methods,
    system- and user-assigned managed identity, build one source); ``text``: how messages name it; ``keys``:
    the keys it reads (any other is an error); ``selects``: whether the settings (with this ``run_as``) mean
    it, asked in ``METHODS``' order, the .NET factory's; ``check``: raises for a selection that is incomplete."""

    name: str
    source: Source
    run_as: str
    text: str
    keys: tuple[str, ...]
    selects: Callable[[Mapping[str, str]], bool]
    check: Callable[[Mapping[str, str]], None] = _no_check


METHODS: tuple[Method, ...] = (
    Method(
        "azure_cli",
        "azure_cli",
        DEVELOPER,
        "the Azure CLI (RunAs=Developer;DeveloperTool=AzureCli)",
        (RUN_AS, DEVELOPER_TOOL),
        selects=lambda values: _developer_tool_of(values) == AZURE_CLI_TOOL,
    ),
    Method(
        "visual_studio",
        "visual_studio",
        DEVELOPER,
        "Visual Studio (RunAs=Developer;DeveloperTool=VisualStudio)",
        (RUN_AS, DEVELOPER_TOOL),
        selects=lambda values: _developer_tool_of(values) == VISUAL_STUDIO_TOOL,
    ),
    Method(
        "current_user",
        "current_user",
        CURRENT_USER,
        "Windows integrated authentication (RunAs=CurrentUser)",
        (RUN_AS, AZURE_AD_INSTANCE),
        selects=lambda values: True,
    ),
    Method(
        "system_assigned_managed_identity",
        "managed_identity",
        APP,
        "system-assigned managed identity (RunAs=App without AppId)",
        (RUN_AS, MSI_RETRY_TIMEOUT),
        selects=lambda values: APP_ID not in values,
    ),
    Method(
        "certificate",
        "certificate",
        APP,
        "a certificate from the store (RunAs=App with AppId and CertificateStoreLocation)",
        (
            RUN_AS,
            APP_ID,
            TENANT_ID,
            CERTIFICATE_THUMBPRINT,
            CERTIFICATE_SUBJECT_NAME,
            CERTIFICATE_STORE_LOCATION,
            AZURE_AD_INSTANCE,
        ),
        selects=lambda values: any(
            key in values for key in (CERTIFICATE_STORE_LOCATION, CERTIFICATE_THUMBPRINT, CERTIFICATE_SUBJECT_NAME)
        ),
        check=lambda values: _check_certificate(values),
    ),
    Method(
        "key_vault_certificate",
        "key_vault_certificate",
        APP,
        "a Key Vault certificate (RunAs=App with AppId and KeyVaultCertificateSecretIdentifier)",
        (
            RUN_AS,
            APP_ID,
            TENANT_ID,
            KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER,
            KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID,
            MSI_RETRY_TIMEOUT,
            AZURE_AD_INSTANCE,
        ),
        selects=lambda values: KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER in values,
    ),
    Method(
        "client_secret",
        "client_secret",
        APP,
        "a client secret (RunAs=App with AppId and AppKey)",
        (RUN_AS, APP_ID, TENANT_ID, APP_KEY, AZURE_AD_INSTANCE),
        selects=lambda values: APP_KEY in values,
        check=lambda values: _require_tenant(values, "a client secret (AppKey)"),
    ),
    Method(
        "user_assigned_managed_identity",
        "managed_identity",
        APP,
        "user-assigned managed identity (RunAs=App with AppId, and no AppKey or certificate)",
        (RUN_AS, APP_ID, MSI_RETRY_TIMEOUT),
        selects=lambda values: True,
    ),
)

# Names people reach for instead of ours, for "did you mean" (lower case, without spaces, '-' or '_').
_KEY_ALIASES = {
    "secret": APP_KEY,
    "clientsecret": APP_KEY,
    "appsecret": APP_KEY,
    "password": APP_KEY,
    "key": APP_KEY,
    "clientid": APP_ID,
    "applicationid": APP_ID,
    "tenant": TENANT_ID,
    "directoryid": TENANT_ID,
    "thumbprint": CERTIFICATE_THUMBPRINT,
    "subject": CERTIFICATE_SUBJECT_NAME,
    "subjectname": CERTIFICATE_SUBJECT_NAME,
    "storelocation": CERTIFICATE_STORE_LOCATION,
    "tool": DEVELOPER_TOOL,
    "authority": AZURE_AD_INSTANCE,
    "authorityhost": AZURE_AD_INSTANCE,
}
_RUN_AS_ALIASES = {
    "application": APP,
    "msi": APP,
    "managedidentity": APP,
    "dev": DEVELOPER,
    "user": CURRENT_USER,
    "windows": CURRENT_USER,
}
_TOOL_ALIASES = {"cli": AZURE_CLI_TOOL, "az": AZURE_CLI_TOOL, "azcli": AZURE_CLI_TOOL, "vs": VISUAL_STUDIO_TOOL}
_STORE_ALIASES = {"user": CURRENT_USER, "machine": LOCAL_MACHINE, "computer": LOCAL_MACHINE}

_DIGITS_RE = re.compile("[0-9]+")


@dataclass(frozen=True)
class ConnectionSettings:
    """A validated connection string: which way to get a token, and the settings that way needs.

    Field values are canonical (``run_as`` is ``Developer``, ``CurrentUser`` or ``App``, and so on).
    Building one directly validates it with the same rules as ``parse_connection_string`` (fields mirror
    connection-string keys, so errors name keys). ``repr`` never shows ``app_key``.
    """

    run_as: str
    developer_tool: str | None = None
    app_id: str | None = None
    tenant_id: str | None = None
    app_key: str | None = field(default=None, repr=False)
    certificate_thumbprint: str | None = None
    certificate_subject_name: str | None = None
    certificate_store_location: str | None = None
    key_vault_certificate_secret_identifier: str | None = None
    key_vault_user_assigned_managed_identity_id: str | None = None
    msi_retry_timeout: int | None = None
    azure_ad_instance: str | None = None
    # The text as the user wrote it but with AppKey's value replaced; set by parse_connection_string.
    _redacted_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        canonical = _validate(self._key_values())
        for key in KEYS:
            if key.name in canonical:
                object.__setattr__(self, key.attribute, _field_value(key, canonical[key.name]))

    @property
    def source(self) -> Source:
        """Which way of getting a token these settings select (the .NET factory's provider choice)."""
        return _select(self._key_values(), self.run_as).source

    @property
    def redacted(self) -> str:
        """The connection string with the ``AppKey`` value replaced by ``<<Redacted>>``: safe to log."""
        if self._redacted_text is not None:
            return self._redacted_text
        return self.to_connection_string(redact=True)

    def to_connection_string(self, *, redact: bool = False) -> str:
        """These settings written as a connection string that parses back to equal settings."""
        parts = []
        for key, value in self._key_values().items():
            shown = REDACTED if redact and _KEYS[key].secret else value
            parts.append(f"{key}={quote_value(shown)}")
        return ";".join(parts)

    def _key_values(self) -> dict[str, str]:
        """The settings as connection-string keys and text values, in canonical key order."""
        values = {}
        for key in KEYS:
            value = getattr(self, key.attribute)
            if value is not None:
                values[key.name] = str(value)
        return values


# Its generated __init__ takes every field, AppKey included, as a local of the frame a validation error passes.
ConnectionSettings.__init__ = clears_locals(ConnectionSettings.__init__)  # type: ignore[method-assign]


@clears_locals  # the text, and what is read from it, hold the AppKey
def parse_connection_string(text: str, *, setting: str = ENVIRONMENT_VARIABLE) -> ConnectionSettings:
    """Read a connection string such as ``RunAs=App;AppId=...`` into validated ``ConnectionSettings``.

    Raises ``ConnectionStringError`` (with ``key`` set when one key is at fault) for anything wrong; the
    message says what and how to fix it and never quotes the connection string or its values. ``setting``:
    where the text came from, as the user writes it (the environment variable, or a setting: see
    ``setting_names``), which the error's ``setting`` names.
    """
    try:
        check_not_empty(text)
        check_not_wrapped_in_quotes(text, setting)
        pairs = tokenize(text, _KEYS_BY_LOWER)
        canonical = _validate(_collect(pairs, text))
        settings = _settings_from(canonical)
    except ConnectionStringError as error:
        error.setting = setting
        raise
    object.__setattr__(settings, "_redacted_text", _redact(text, pairs))
    return settings


# --- keys ---------------------------------------------------------------------------------------------------


def _canonical_key(raw: str) -> str | None:
    return canonical_key(raw, _KEYS_BY_LOWER)


def _collect(pairs: Sequence[Pair], text: str) -> dict[str, str]:
    """Pairs to ``{canonical key: value}`` in the order written, rejecting unknown and repeated keys."""
    taint = taint_start(text)
    values: dict[str, str] = {}
    for pair in pairs:
        canonical = _canonical_key(pair.key)
        if canonical is None:
            raise _unknown_key_error(pair, taint)
        if canonical in values:
            hint = QUOTE_SECRET_HINT if pair.key_start > taint else ""
            raise ConnectionStringError(
                f"{PREFIX}{canonical} is given more than once (key names ignore case).{hint} "
                f"Keep only one {canonical}.",
                key=canonical,
            )
        values[canonical] = pair.value
    return values


def _unknown_key_error(pair: Pair, taint: int) -> ConnectionStringError:
    name, key = describe_key(pair.key, pair.key_start, pair.key_end, taint, _KEYS_BY_LOWER)
    if key is not None:
        suggestion = _suggest(pair.key, VALID_KEYS, _KEY_ALIASES)
        hint = f" Did you mean {suggestion}?" if suggestion else ""
    else:
        hint = QUOTE_SECRET_HINT if pair.key_end > taint else ""
    subject = f"unknown key {name}" if key is not None else f"{name} is not a known key"
    return ConnectionStringError(
        f"{PREFIX}{subject}.{hint} Use one of these keys (any case) or remove it: {', '.join(VALID_KEYS)}.",
        key=key,
    )


def _suggest(word: str, choices: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    """The choice the user most likely meant: a known alias, else the closest spelling."""
    squashed = re.sub(r"[\s_-]", "", word).lower()
    if squashed in aliases:
        return aliases[squashed]
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(squashed, list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


# --- meaning ------------------------------------------------------------------------------------------------


def _validate(values: Mapping[str, str]) -> dict[str, str]:
    """Check the settings as a whole and return them with canonical values (same keys, same order)."""
    _check_no_blank_values(values)
    run_as = _canonical_choice(RUN_AS, _require_run_as(values), (DEVELOPER, CURRENT_USER, APP), _RUN_AS_ALIASES)
    _check_keys_apply(values, _select(values, run_as))
    canonical = dict(values)
    canonical[RUN_AS] = run_as
    for key in KEYS:
        if key.name in canonical and key.name != RUN_AS:
            canonical[key.name] = key.canonical(canonical[key.name])
    return canonical


def _check_no_blank_values(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        if not value.strip():
            raise ConnectionStringError(
                f"{PREFIX}{key} is empty. Set it to {_KEYS[key].expects}{'' if key == RUN_AS else ', or remove it'}.",
                key=key,
            )
        if "\x00" in value:
            raise ConnectionStringError(f"{PREFIX}{key} contains a NUL character. Remove it.", key=key)


def _require_run_as(values: Mapping[str, str]) -> str:
    if RUN_AS not in values:
        raise ConnectionStringError(
            PREFIX + "it has no RunAs key, so it does not say how to get a token. Add RunAs=App (managed "
            "identity, a client secret or a certificate), RunAs=Developer;DeveloperTool=AzureCli (or "
            "VisualStudio), or RunAs=CurrentUser.",
            key=RUN_AS,
        )
    return values[RUN_AS]


def _canonical_choice(key: str, value: str, choices: Sequence[str], aliases: Mapping[str, str]) -> str:
    """``value`` as one of ``choices``, ignoring case and surrounding whitespace, or an error that lists
    them (and suggests one) without quoting the value."""
    wanted = value.strip().lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    suggestion = _suggest(value, choices, aliases)
    hint = f" Did you mean {key}={suggestion}?" if suggestion else ""
    if "=" in value:
        hint += " (The value contains '=': is a ';' missing before the next key?)"
    allowed = ", ".join(choices[:-1]) + " or " + choices[-1]
    raise ConnectionStringError(
        f"{PREFIX}{key} must be {allowed} (any case), and the value given is none of these.{hint} "
        f"Set {key} to one of them.",
        key=key,
    )


def _select(values: Mapping[str, str], run_as: str) -> Method:
    """The method the settings select: the first of ``METHODS`` for ``run_as`` that they mean, checked."""
    for method in METHODS:
        if method.run_as == run_as and method.selects(values):
            method.check(values)
            return method
    raise AssertionError(f"no method for RunAs={run_as}: METHODS ends each RunAs with one that takes the rest")


def _developer_tool_of(values: Mapping[str, str]) -> str:
    if DEVELOPER_TOOL not in values:
        raise ConnectionStringError(
            f"{PREFIX}RunAs=Developer needs DeveloperTool to say whose sign-in to use. "
            "Add DeveloperTool=AzureCli or DeveloperTool=VisualStudio.",
            key=DEVELOPER_TOOL,
        )
    return _developer_tool(values[DEVELOPER_TOOL])


def _check_certificate(values: Mapping[str, str]) -> None:
    if CERTIFICATE_STORE_LOCATION not in values:
        raise ConnectionStringError(
            f"{PREFIX}CertificateThumbprint and CertificateSubjectName need CertificateStoreLocation to say "
            "which store holds the certificate. Add CertificateStoreLocation=CurrentUser or "
            "CertificateStoreLocation=LocalMachine (for a certificate kept in Key Vault, use "
            "KeyVaultCertificateSecretIdentifier instead).",
            key=CERTIFICATE_STORE_LOCATION,
        )
    has_thumbprint = CERTIFICATE_THUMBPRINT in values
    has_subject = CERTIFICATE_SUBJECT_NAME in values
    if not has_thumbprint and not has_subject:
        raise ConnectionStringError(
            f"{PREFIX}CertificateStoreLocation is given but not which certificate to use. "
            "Add CertificateThumbprint=... or CertificateSubjectName=CN=....",
            key=CERTIFICATE_STORE_LOCATION,
        )
    if has_thumbprint and has_subject:
        raise ConnectionStringError(
            f"{PREFIX}both CertificateThumbprint and CertificateSubjectName are given (.NET silently used the "
            "thumbprint). Keep only one of them.",
            key=CERTIFICATE_SUBJECT_NAME,
        )
    _store_location(values[CERTIFICATE_STORE_LOCATION])
    _require_tenant(values, "a certificate")


def _require_tenant(values: Mapping[str, str], what: str) -> None:
    if TENANT_ID not in values:
        raise ConnectionStringError(
            f"{PREFIX}signing in with {what} needs TenantId. Add TenantId=<{_KEYS[TENANT_ID].expects}>.",
            key=TENANT_ID,
        )


def _check_keys_apply(values: Mapping[str, str], method: Method) -> None:
    """Reject keys the selected method would ignore: in .NET they were silently dropped, which hid
    mistakes such as ``TenantId`` without ``AppKey`` quietly meaning managed identity."""
    for key in values:
        if key not in method.keys:
            raise ConnectionStringError(
                f"{PREFIX}{key} is not used by {method.text}, which reads only "
                f"{', '.join(method.keys)}. {key} is for {_KEYS[key].belongs_to}. Remove {key}, or add the keys "
                "that select the method you meant.",
                key=key,
            )


def _developer_tool(value: str) -> str:
    return _canonical_choice(DEVELOPER_TOOL, value, (AZURE_CLI_TOOL, VISUAL_STUDIO_TOOL), _TOOL_ALIASES)


def _store_location(value: str) -> str:
    return _canonical_choice(CERTIFICATE_STORE_LOCATION, value, (CURRENT_USER, LOCAL_MACHINE), _STORE_ALIASES)


def _msi_retry_timeout(value: str) -> str:
    digits = value.strip()
    if _DIGITS_RE.fullmatch(digits) is None or int(digits) > _MAX_INT32:
        raise ConnectionStringError(
            f"{PREFIX}MsiRetryTimeout must be a whole number of seconds from 0 to {_MAX_INT32}, and the value "
            "given is not. Write e.g. MsiRetryTimeout=30, or remove it to use the default.",
            key=MSI_RETRY_TIMEOUT,
        )
    return str(int(digits))


def _azure_ad_instance(value: str) -> str:
    """Check the host is https (tokens must not travel in clear) and end it with '/', because the authority
    is the instance followed directly by the tenant."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme.lower() == "https" and bool(parts.hostname) and not parts.query and not parts.fragment
    except ValueError:
        valid = False
    if not valid:
        raise ConnectionStringError(
            f"{PREFIX}AzureAdInstance must be an https URL with a host and no query, and the value given is "
            "not. Write e.g. AzureAdInstance=https://login.microsoftonline.com/.",
            key=AZURE_AD_INSTANCE,
        )
    return value if value.endswith("/") else value + "/"


# --- building and writing -----------------------------------------------------------------------------------


def _field_value(key: Key, value: str) -> str | int:
    return int(value) if key.integer else value


def _settings_from(canonical: Mapping[str, str]) -> ConnectionSettings:
    fields = {key.attribute: _field_value(key, canonical[key.name]) for key in KEYS if key.name in canonical}
    return ConnectionSettings(**fields)  # type: ignore[arg-type]  # run_as is always there: _validate needs it


def _redact(text: str, pairs: Sequence[Pair]) -> str:
    """The user's own text with each secret value (quotes included) replaced, so it stays recognisable."""
    for pair in reversed(pairs):
        canonical = _canonical_key(pair.key)
        if canonical is not None and _KEYS[canonical].secret:
            text = text[: pair.value_start] + REDACTED + text[pair.value_end :]
    return text
