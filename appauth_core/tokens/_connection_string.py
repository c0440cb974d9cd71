"""Reading the ``AzureServicesAuthConnectionString`` (``RunAs=App;AppId=...``) into ``ConnectionSettings``.

Grammar (the .NET ``DbConnectionOptions`` grammar that AppAuthentication copied, so strings written for the
.NET library keep working):

* ``Key=Value`` settings separated by ``;``; whitespace around ``=`` and ``;``, empty segments and a
  trailing ``;`` are allowed.
* Keys are case-insensitive and may not start with whitespace or ``;``; ``==`` inside a key is a literal ``=``.
* A value is either unquoted (it cannot contain ``;`` or control characters, cannot start with a quote or
  end with one, and surrounding whitespace is dropped), or quoted with ``"..."`` (``""`` is a ``"``) or
  ``'...'`` (``''`` is a ``'``), keeping everything inside, including ``;`` and whitespace.
* ``RunAs``, ``DeveloperTool`` and ``CertificateStoreLocation`` values are case-insensitive; other values
  keep their case.

Where we deliberately differ from .NET 1.6.2:

* Mistakes are errors, not silently ignored: unknown keys (issue #9152: ``Secret=`` quietly turned a client
  secret into managed identity), keys the selected method does not use (``TenantId`` with managed identity,
  ``AppKey`` next to a certificate), empty values, both ``CertificateThumbprint`` and
  ``CertificateSubjectName``, an empty or negative ``MsiRetryTimeout`` (.NET crashed on empty).
* Messages never contain the connection string or any value (.NET printed the whole string, ``AppKey``
  included); ``ConnectionSettings.redacted`` is the string with ``AppKey`` replaced, safe to show.
* A string wrapped in quotes (Windows ``set VAR="RunAs=App"``, issue #5866) gets a hint to drop them.
* ``AzureAdInstance`` is a key here (in .NET it was only a constructor argument); it must be https and is
  normalised to end with ``/``.
* ``RunAs=CurrentUser`` is accepted everywhere; whether Windows sign-in works is the provider's business.
* ``CertificateStoreLocation`` takes only the names ``CurrentUser`` and ``LocalMachine`` (not ``1``/``2``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .._internal.frame_locals import clears_locals
from ..errors import ConnectionStringError

__all__ = [
    "REDACTED",
    "SOURCES",
    "VALID_KEYS",
    "ConnectionSettings",
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
SOURCES: tuple[Source, ...] = (
    "azure_cli",
    "visual_studio",
    "current_user",
    "managed_identity",
    "client_secret",
    "certificate",
    "key_vault_certificate",
)

REDACTED = "<<Redacted>>"

RUN_AS = "RunAs"
DEVELOPER_TOOL = "DeveloperTool"
APP_ID = "AppId"
APP_KEY = "AppKey"
TENANT_ID = "TenantId"
CERTIFICATE_THUMBPRINT = "CertificateThumbprint"
CERTIFICATE_SUBJECT_NAME = "CertificateSubjectName"
CERTIFICATE_STORE_LOCATION = "CertificateStoreLocation"
KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER = "KeyVaultCertificateSecretIdentifier"
KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID = "KeyVaultUserAssignedManagedIdentityId"
MSI_RETRY_TIMEOUT = "MsiRetryTimeout"
AZURE_AD_INSTANCE = "AzureAdInstance"

# Connection-string key -> ConnectionSettings field, in the order keys are rendered.
_FIELDS: tuple[tuple[str, str], ...] = (
    (RUN_AS, "run_as"),
    (DEVELOPER_TOOL, "developer_tool"),
    (APP_ID, "app_id"),
    (TENANT_ID, "tenant_id"),
    (APP_KEY, "app_key"),
    (CERTIFICATE_THUMBPRINT, "certificate_thumbprint"),
    (CERTIFICATE_SUBJECT_NAME, "certificate_subject_name"),
    (CERTIFICATE_STORE_LOCATION, "certificate_store_location"),
    (KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER, "key_vault_certificate_secret_identifier"),
    (KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID, "key_vault_user_assigned_managed_identity_id"),
    (MSI_RETRY_TIMEOUT, "msi_retry_timeout"),
    (AZURE_AD_INSTANCE, "azure_ad_instance"),
)
VALID_KEYS: tuple[str, ...] = tuple(key for key, _ in _FIELDS)
_KEYS_BY_LOWER = {key.lower(): key for key in VALID_KEYS}
_SECRET_KEYS = frozenset({APP_KEY})

DEVELOPER, CURRENT_USER, APP = "Developer", "CurrentUser", "App"
AZURE_CLI_TOOL, VISUAL_STUDIO_TOOL = "AzureCli", "VisualStudio"
LOCAL_MACHINE = "LocalMachine"
_MAX_INT32 = 2**31 - 1  # .NET parsed MsiRetryTimeout as an int

# What each key expects: the "how to fix" half of messages about a key.
_KEY_HELP = {
    RUN_AS: "Developer, CurrentUser or App",
    DEVELOPER_TOOL: "AzureCli or VisualStudio",
    APP_ID: "the application (client) ID",
    APP_KEY: "the client secret",
    TENANT_ID: "the directory (tenant) ID or domain",
    CERTIFICATE_THUMBPRINT: "the certificate's SHA-1 thumbprint",
    CERTIFICATE_SUBJECT_NAME: "the certificate's subject, e.g. CN=myapp",
    CERTIFICATE_STORE_LOCATION: "CurrentUser or LocalMachine",
    KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER: (
        "the certificate's Key Vault secret URL, e.g. https://myvault.vault.azure.net/secrets/mycert"
    ),
    KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID: (
        "the client ID of the user-assigned managed identity that reads the Key Vault certificate"
    ),
    MSI_RETRY_TIMEOUT: "a whole number of seconds, 0 or more",
    AZURE_AD_INSTANCE: "the https URL of the Microsoft Entra ID host, e.g. https://login.microsoftonline.com/",
}

# Where a key belongs: told to someone who used it with a method that ignores it.
_KEY_PURPOSE = {
    DEVELOPER_TOOL: "RunAs=Developer",
    APP_ID: "RunAs=App (a user-assigned managed identity, a client secret or a certificate)",
    APP_KEY: "a client secret: RunAs=App;AppId=...;TenantId=...;AppKey=...",
    TENANT_ID: "a client secret or a certificate (RunAs=App with AppId and AppKey or a certificate)",
    CERTIFICATE_THUMBPRINT: "a certificate from the store: RunAs=App;AppId=...;TenantId=...;"
    "CertificateThumbprint=...;CertificateStoreLocation=CurrentUser",
    CERTIFICATE_SUBJECT_NAME: "a certificate from the store: RunAs=App;AppId=...;TenantId=...;"
    "CertificateSubjectName=CN=...;CertificateStoreLocation=CurrentUser",
    CERTIFICATE_STORE_LOCATION: "a certificate from the store (with CertificateThumbprint or CertificateSubjectName)",
    KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER: "a certificate kept in Key Vault: "
    "RunAs=App;AppId=...;KeyVaultCertificateSecretIdentifier=https://...",
    KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID: "a certificate kept in Key Vault "
    "(with KeyVaultCertificateSecretIdentifier), read with a user-assigned managed identity",
    MSI_RETRY_TIMEOUT: "managed identity (RunAs=App without AppKey or a certificate) and Key Vault certificates",
    AZURE_AD_INSTANCE: "methods that sign in to Microsoft Entra ID directly: a client secret, a certificate, "
    "a Key Vault certificate and RunAs=CurrentUser",
}

# The methods a connection string can select, with the keys each one reads. Managed identity comes in two
# variants because a system-assigned identity has no AppId.
_SYSTEM_MI, _USER_MI = "system_assigned_managed_identity", "user_assigned_managed_identity"
_METHOD_TEXT = {
    "azure_cli": "the Azure CLI (RunAs=Developer;DeveloperTool=AzureCli)",
    "visual_studio": "Visual Studio (RunAs=Developer;DeveloperTool=VisualStudio)",
    "current_user": "Windows integrated authentication (RunAs=CurrentUser)",
    _SYSTEM_MI: "system-assigned managed identity (RunAs=App without AppId)",
    _USER_MI: "user-assigned managed identity (RunAs=App with AppId, and no AppKey or certificate)",
    "client_secret": "a client secret (RunAs=App with AppId and AppKey)",
    "certificate": "a certificate from the store (RunAs=App with AppId and CertificateStoreLocation)",
    "key_vault_certificate": "a Key Vault certificate (RunAs=App with AppId and KeyVaultCertificateSecretIdentifier)",
}
_ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "azure_cli": (RUN_AS, DEVELOPER_TOOL),
    "visual_studio": (RUN_AS, DEVELOPER_TOOL),
    "current_user": (RUN_AS, AZURE_AD_INSTANCE),
    _SYSTEM_MI: (RUN_AS, MSI_RETRY_TIMEOUT),
    _USER_MI: (RUN_AS, APP_ID, MSI_RETRY_TIMEOUT),
    "client_secret": (RUN_AS, APP_ID, TENANT_ID, APP_KEY, AZURE_AD_INSTANCE),
    "certificate": (
        RUN_AS,
        APP_ID,
        TENANT_ID,
        CERTIFICATE_THUMBPRINT,
        CERTIFICATE_SUBJECT_NAME,
        CERTIFICATE_STORE_LOCATION,
        AZURE_AD_INSTANCE,
    ),
    "key_vault_certificate": (
        RUN_AS,
        APP_ID,
        TENANT_ID,
        KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER,
        KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID,
        MSI_RETRY_TIMEOUT,
        AZURE_AD_INSTANCE,
    ),
}

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

_PREFIX = "Invalid connection string: "
ENVIRONMENT_VARIABLE = "AzureServicesAuthConnectionString"
_QUOTE_SECRET_HINT = (
    " If that text is part of the AppKey secret (a secret containing ';'), put the whole AppKey value in"
    ' double quotes, e.g. AppKey="...", writing any " inside it as "".'
)

# --- the grammar: .NET's DbConnectionOptions regex, one Key=Value pair at a time ---------------------------
_CC = r"\x00-\x1f\x7f-\x9f"  # .NET's \p{Cc}
_KEY = rf"(?:[^=\s{_CC}]|\s+[^=\s{_CC}]|\s+==|==)+"
_DOUBLE_QUOTED = r'"(?:[^"\x00]|"")*"'
_SINGLE_QUOTED = r"'(?:[^'\x00]|'')*'"
_UNQUOTED = rf"""(?!["'\s])(?:[^;\s{_CC}]|\s+[^;\s{_CC}])*(?<!["'])"""
_PAIR_END = r"\s*(?:;|[\x00\s]*\Z)"
_PAIR_RE = re.compile(
    rf"[\s;]*(?![\s;])(?P<key>{_KEY})\s*=(?!=)\s*"
    rf"(?P<value>{_DOUBLE_QUOTED}|{_SINGLE_QUOTED}|{_UNQUOTED}){_PAIR_END}"
)
_TAIL_RE = re.compile(r"[\s;]*[\x00\s]*\Z")
_KEY_EQUALS_RE = re.compile(rf"(?P<key>{_KEY})\s*=(?!=)\s*")
_QUOTED_RE = re.compile(rf"{_DOUBLE_QUOTED}|{_SINGLE_QUOTED}")
_PLAIN_VALUE_RE = re.compile(rf"""[^"'=;\s{_CC}]*""")  # values .NET writes without quotes
_NAME_LIKE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # unknown keys we may quote back
_APP_KEY_RE = re.compile("appkey", re.IGNORECASE)
_DIGITS_RE = re.compile("[0-9]+")


@dataclass(frozen=True)
class _Pair:
    """One ``Key=Value`` as written, with where its key and value sit in the text."""

    key: str
    value: str = field(repr=False)
    key_start: int
    key_end: int
    value_start: int
    value_end: int


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
        for key, attribute in _FIELDS:
            if key in canonical:
                object.__setattr__(self, attribute, _field_value(key, canonical[key]))

    @property
    def source(self) -> Source:
        """Which way of getting a token these settings select (the .NET factory's provider choice)."""
        return _select_source(self._key_values(), self.run_as)

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
            shown = REDACTED if redact and key in _SECRET_KEYS else value
            parts.append(f"{key}={_quote_value(shown)}")
        return ";".join(parts)

    def _key_values(self) -> dict[str, str]:
        """The settings as connection-string keys and text values, in canonical key order."""
        values = {}
        for key, attribute in _FIELDS:
            value = getattr(self, attribute)
            if value is not None:
                values[key] = str(value)
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
        _check_not_empty(text)
        _check_not_wrapped_in_quotes(text, setting)
        pairs = _tokenize(text)
        canonical = _validate(_collect(pairs, text))
        settings = _settings_from(canonical)
    except ConnectionStringError as error:
        error.setting = setting
        raise
    object.__setattr__(settings, "_redacted_text", _redact(text, pairs))
    return settings


# --- syntax -------------------------------------------------------------------------------------------------


def _check_not_empty(text: str) -> None:
    if not text.strip():
        raise ConnectionStringError(
            _PREFIX + "it is empty. Write the settings you want, e.g. RunAs=App for managed identity, or leave "
            "the connection string unset to let the provider try each way of getting a token in turn."
        )


def _check_not_wrapped_in_quotes(text: str, setting: str) -> None:
    """A string starting with a quote is never valid (no key starts with one); the usual cause, in the
    environment variable, is Windows ``set VAR="RunAs=App"``, which keeps the quotes, so say that rather than
    report a syntax error. In a setting the quotes were written inside the string itself."""
    stripped = text.strip()
    quote = stripped[0]
    if quote not in "\"'":
        return
    where = "is wrapped in quotes" if len(stripped) > 1 and stripped[-1] == quote else "starts with a quote"
    if setting == ENVIRONMENT_VARIABLE:
        fix = (
            f'On Windows, `set {setting}="RunAs=App"` keeps the quotes as part of the value. Remove the surrounding '
            f"quotes (`set {setting}=RunAs=App`)"
        )
    else:
        fix = f'Remove the surrounding quotes from {setting} (write RunAs=App, not "RunAs=App")'
    raise ConnectionStringError(
        f'{_PREFIX}it {where} ({quote}). {fix}; quotes belong only around a single value, as in AppKey="...".'
    )


def _tokenize(text: str) -> list[_Pair]:
    """Split the text into pairs exactly as .NET's regex does: pair after pair from the start, and the
    rest must be only separators."""
    pairs = []
    position = 0
    while (match := _PAIR_RE.match(text, position)) is not None:
        pairs.append(_pair_from(match))
        position = match.end()
    if _TAIL_RE.match(text, position) is None:
        raise _syntax_error(text, position, _taint_start(text))
    return pairs


def _pair_from(match: re.Match[str]) -> _Pair:
    return _Pair(
        key=match["key"].replace("==", "="),
        value=_unquote(match["value"]),
        key_start=match.start("key"),
        key_end=match.end("key"),
        value_start=match.start("value"),
        value_end=match.end("value"),
    )


def _unquote(raw: str) -> str:
    if raw[:1] == '"':
        return raw[1:-1].replace('""', '"')
    if raw[:1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def _taint_start(text: str) -> int:
    """Where text stops being safe to quote back: from the first ``AppKey`` on, anything may be a piece of
    the secret (an unquoted secret containing ';' spills into what look like keys)."""
    match = _APP_KEY_RE.search(text)
    return match.start() if match else len(text)


def _describe_key(raw: str, start: int, end: int, taint: int) -> tuple[str, str | None]:
    """How a message names a key, and the ``key`` for the error: a known key by its canonical name, an
    unknown one only if it looks like a name and comes before any ``AppKey``, else by position."""
    canonical = _canonical_key(raw)
    if canonical is not None:
        return canonical, canonical
    if end <= taint and _NAME_LIKE_RE.fullmatch(raw):
        return f"'{raw}'", raw
    return f"the key at character {start + 1}", None


def _syntax_error(text: str, position: int, taint: int) -> ConnectionStringError:
    """Say where and why the text stops being ``Key=Value;...``, without quoting any of it."""
    start = _skip_separators(text, position)
    hint = _QUOTE_SECRET_HINT if start > taint else ""
    head = _KEY_EQUALS_RE.match(text, start)
    if head is None:
        return ConnectionStringError(_PREFIX + _missing_key_problem(text, start) + hint)
    name, key = _describe_key(head["key"].replace("==", "="), head.start("key"), head.end("key"), taint)
    problem = _value_problem(text, head.end(), f"the value of {name}")
    return ConnectionStringError(_PREFIX + problem + ("" if key == APP_KEY else hint), key=key)


def _missing_key_problem(text: str, start: int) -> str:
    end = text.find(";", start)
    segment = text[start : len(text) if end < 0 else end]
    if "=" not in segment:
        return (
            f"expected Key=Value at character {start + 1}, but there is no '=' before the next ';' or the end. "
            "Write each setting as Key=Value and separate settings with ';'."
        )
    if segment.startswith("="):
        return f"there is an '=' with no key before it at character {start + 1}. Write each setting as Key=Value."
    if "==" in segment:
        return (
            f"'==' at character {start + segment.index('==') + 1} means a literal '=' inside a key, so that "
            "setting has no '=' between key and value. Use a single '=' (and quote a value that starts with '=')."
        )
    return (
        f"the key at character {start + 1} is not valid: keys cannot contain control characters. "
        "Write each setting as Key=Value and separate settings with ';'."
    )


def _value_problem(text: str, start: int, what: str) -> str:
    """Why the value starting at ``start`` cannot be read."""
    first = text[start : start + 1]
    if first in ("'", '"'):
        quoted = _QUOTED_RE.match(text, start)
        if quoted is None:
            return (
                f"{what} opens a {first} quote at character {start + 1} that is never closed. Close it, and write "
                f"a {first} inside the value as {first}{first}."
            )
        return (
            f"{what} is quoted, but more text follows its closing quote (character {quoted.end()}) before the "
            f"next ';'. Quote the whole value, writing a {first} inside it as {first}{first}, and end it with ';'."
        )
    end = start
    while end < len(text) and text[end] != ";" and not _is_control(text[end]):
        end += 1
    if end < len(text) and text[end] != ";":
        return (
            f"{what} contains a control character at character {end + 1}. Remove it, or put the value in "
            "quotes (NUL is never allowed)."
        )
    if text[start:end].rstrip()[-1:] in ("'", '"'):
        return (
            f"{what} ends with a quote but does not start with one. Either remove the quote, or quote the whole "
            'value (e.g. Key="..."), writing a quote of the same kind inside it twice.'
        )
    return f'{what} at character {start + 1} cannot be read. Put it in double quotes, writing any " inside as "".'


def _skip_separators(text: str, position: int) -> int:
    while position < len(text) and (text[position] == ";" or text[position].isspace()):
        position += 1
    return position


def _is_control(char: str) -> bool:
    return not char.isspace() and (char <= "\x1f" or "\x7f" <= char <= "\x9f")


# --- keys ---------------------------------------------------------------------------------------------------


def _canonical_key(raw: str) -> str | None:
    """The key's canonical spelling, compared ignoring ASCII case as .NET's OrdinalIgnoreCase does."""
    return _KEYS_BY_LOWER.get(raw.lower()) if raw.isascii() else None


def _collect(pairs: Sequence[_Pair], text: str) -> dict[str, str]:
    """Pairs to ``{canonical key: value}`` in the order written, rejecting unknown and repeated keys."""
    taint = _taint_start(text)
    values: dict[str, str] = {}
    for pair in pairs:
        canonical = _canonical_key(pair.key)
        if canonical is None:
            raise _unknown_key_error(pair, taint)
        if canonical in values:
            hint = _QUOTE_SECRET_HINT if pair.key_start > taint else ""
            raise ConnectionStringError(
                f"{_PREFIX}{canonical} is given more than once (key names ignore case).{hint} "
                f"Keep only one {canonical}.",
                key=canonical,
            )
        values[canonical] = pair.value
    return values


def _unknown_key_error(pair: _Pair, taint: int) -> ConnectionStringError:
    name, key = _describe_key(pair.key, pair.key_start, pair.key_end, taint)
    if key is not None:
        suggestion = _suggest(pair.key, VALID_KEYS, _KEY_ALIASES)
        hint = f" Did you mean {suggestion}?" if suggestion else ""
    else:
        hint = _QUOTE_SECRET_HINT if pair.key_end > taint else ""
    subject = f"unknown key {name}" if key is not None else f"{name} is not a known key"
    return ConnectionStringError(
        f"{_PREFIX}{subject}.{hint} Use one of these keys (any case) or remove it: {', '.join(VALID_KEYS)}.",
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
    source = _select_source(values, run_as)
    _check_keys_apply(values, _method(source, values))
    canonical = dict(values)
    canonical[RUN_AS] = run_as
    for key, normalise in _NORMALISERS.items():
        if key in canonical:
            canonical[key] = normalise(canonical[key])
    return canonical


def _check_no_blank_values(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        if not value.strip():
            raise ConnectionStringError(
                f"{_PREFIX}{key} is empty. Set it to {_KEY_HELP[key]}{'' if key == RUN_AS else ', or remove it'}.",
                key=key,
            )
        if "\x00" in value:
            raise ConnectionStringError(f"{_PREFIX}{key} contains a NUL character. Remove it.", key=key)


def _require_run_as(values: Mapping[str, str]) -> str:
    if RUN_AS not in values:
        raise ConnectionStringError(
            _PREFIX + "it has no RunAs key, so it does not say how to get a token. Add RunAs=App (managed "
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
        f"{_PREFIX}{key} must be {allowed} (any case), and the value given is none of these.{hint} "
        f"Set {key} to one of them.",
        key=key,
    )


def _select_source(values: Mapping[str, str], run_as: str) -> Source:
    """Which method the settings select, checked in the order the .NET factory checks them."""
    if run_as == DEVELOPER:
        return _developer_source(values)
    if run_as == CURRENT_USER:
        return "current_user"
    if APP_ID not in values:
        return "managed_identity"
    if CERTIFICATE_STORE_LOCATION in values:
        _check_certificate(values)
        return "certificate"
    if CERTIFICATE_THUMBPRINT in values or CERTIFICATE_SUBJECT_NAME in values:
        raise ConnectionStringError(
            f"{_PREFIX}CertificateThumbprint and CertificateSubjectName need CertificateStoreLocation to say "
            "which store holds the certificate. Add CertificateStoreLocation=CurrentUser or "
            "CertificateStoreLocation=LocalMachine (for a certificate kept in Key Vault, use "
            "KeyVaultCertificateSecretIdentifier instead).",
            key=CERTIFICATE_STORE_LOCATION,
        )
    if KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER in values:
        return "key_vault_certificate"
    if APP_KEY in values:
        _require_tenant(values, "a client secret (AppKey)")
        return "client_secret"
    return "managed_identity"


def _developer_source(values: Mapping[str, str]) -> Source:
    if DEVELOPER_TOOL not in values:
        raise ConnectionStringError(
            f"{_PREFIX}RunAs=Developer needs DeveloperTool to say whose sign-in to use. "
            "Add DeveloperTool=AzureCli or DeveloperTool=VisualStudio.",
            key=DEVELOPER_TOOL,
        )
    return "azure_cli" if _developer_tool(values[DEVELOPER_TOOL]) == AZURE_CLI_TOOL else "visual_studio"


def _check_certificate(values: Mapping[str, str]) -> None:
    has_thumbprint = CERTIFICATE_THUMBPRINT in values
    has_subject = CERTIFICATE_SUBJECT_NAME in values
    if not has_thumbprint and not has_subject:
        raise ConnectionStringError(
            f"{_PREFIX}CertificateStoreLocation is given but not which certificate to use. "
            "Add CertificateThumbprint=... or CertificateSubjectName=CN=....",
            key=CERTIFICATE_STORE_LOCATION,
        )
    if has_thumbprint and has_subject:
        raise ConnectionStringError(
            f"{_PREFIX}both CertificateThumbprint and CertificateSubjectName are given (.NET silently used the "
            "thumbprint). Keep only one of them.",
            key=CERTIFICATE_SUBJECT_NAME,
        )
    _store_location(values[CERTIFICATE_STORE_LOCATION])
    _require_tenant(values, "a certificate")


def _require_tenant(values: Mapping[str, str], what: str) -> None:
    if TENANT_ID not in values:
        raise ConnectionStringError(
            f"{_PREFIX}signing in with {what} needs TenantId. Add TenantId=<{_KEY_HELP[TENANT_ID]}>.",
            key=TENANT_ID,
        )


def _method(source: Source, values: Mapping[str, str]) -> str:
    """The entry of ``_ALLOWED_KEYS`` for a source: managed identity splits by whether AppId is given."""
    if source == "managed_identity":
        return _USER_MI if APP_ID in values else _SYSTEM_MI
    return source


def _check_keys_apply(values: Mapping[str, str], method: str) -> None:
    """Reject keys the selected method would ignore: in .NET they were silently dropped, which hid
    mistakes such as ``TenantId`` without ``AppKey`` quietly meaning managed identity."""
    allowed = _ALLOWED_KEYS[method]
    for key in values:
        if key not in allowed:
            raise ConnectionStringError(
                f"{_PREFIX}{key} is not used by {_METHOD_TEXT[method]}, which reads only "
                f"{', '.join(allowed)}. {key} is for {_KEY_PURPOSE[key]}. Remove {key}, or add the keys that "
                "select the method you meant.",
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
            f"{_PREFIX}MsiRetryTimeout must be a whole number of seconds from 0 to {_MAX_INT32}, and the value "
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
            f"{_PREFIX}AzureAdInstance must be an https URL with a host and no query, and the value given is "
            "not. Write e.g. AzureAdInstance=https://login.microsoftonline.com/.",
            key=AZURE_AD_INSTANCE,
        )
    return value if value.endswith("/") else value + "/"


_NORMALISERS = {
    DEVELOPER_TOOL: _developer_tool,
    CERTIFICATE_STORE_LOCATION: _store_location,
    MSI_RETRY_TIMEOUT: _msi_retry_timeout,
    AZURE_AD_INSTANCE: _azure_ad_instance,
}


# --- building and writing -----------------------------------------------------------------------------------


def _field_value(key: str, value: str) -> str | int:
    return int(value) if key == MSI_RETRY_TIMEOUT else value


def _settings_from(canonical: Mapping[str, str]) -> ConnectionSettings:
    timeout = canonical.get(MSI_RETRY_TIMEOUT)
    return ConnectionSettings(
        run_as=canonical[RUN_AS],
        developer_tool=canonical.get(DEVELOPER_TOOL),
        app_id=canonical.get(APP_ID),
        tenant_id=canonical.get(TENANT_ID),
        app_key=canonical.get(APP_KEY),
        certificate_thumbprint=canonical.get(CERTIFICATE_THUMBPRINT),
        certificate_subject_name=canonical.get(CERTIFICATE_SUBJECT_NAME),
        certificate_store_location=canonical.get(CERTIFICATE_STORE_LOCATION),
        key_vault_certificate_secret_identifier=canonical.get(KEY_VAULT_CERTIFICATE_SECRET_IDENTIFIER),
        key_vault_user_assigned_managed_identity_id=canonical.get(KEY_VAULT_USER_ASSIGNED_MANAGED_IDENTITY_ID),
        msi_retry_timeout=None if timeout is None else int(timeout),
        azure_ad_instance=canonical.get(AZURE_AD_INSTANCE),
    )


def _redact(text: str, pairs: Sequence[_Pair]) -> str:
    """The user's own text with each secret value (quotes included) replaced, so it stays recognisable."""
    for pair in reversed(pairs):
        if _canonical_key(pair.key) in _SECRET_KEYS:
            text = text[: pair.value_start] + REDACTED + text[pair.value_end :]
    return text


def _quote_value(value: str) -> str:
    """Quote a value the way .NET's connection-string builder does: bare if nothing in it needs quoting,
    else in single quotes if it holds a " but no ', else in double quotes with " doubled."""
    if _PLAIN_VALUE_RE.fullmatch(value):
        return value
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', '""') + '"'
