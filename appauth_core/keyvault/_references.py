"""App Service Key Vault references (``@Microsoft.KeyVault(...)``) and Key Vault's naming rules.

The two forms App Service documents (articles/app-service/app-service-key-vault-references.md):

    @Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/<name>[/<version>])
    @Microsoft.KeyVault(VaultName=<vault>;SecretName=<name>[;SecretVersion=<version>])

When App Service cannot resolve a reference, it hands the app the literal text, so an app has to be able to
resolve it itself. Keys are matched case-insensitively; a value that starts like a reference but is not a
valid one is an error (never passed through as if it were a plain value), so a typo cannot become a
password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidReferenceError, InvalidSecretNameError
from ..tokens._secret_uri import SecretUriError, parse_secret_uri
from ..tokens._vault_hosts import VaultOrigin, address_suffix_vault

REFERENCE_PREFIX = "@Microsoft.KeyVault("
DEFAULT_VAULT_SUFFIX = "vault.azure.net"

SECRET_NAME_PATTERN = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
"""Key Vault's secret names (learn: about-keys-secrets-certificates); checked before any request."""
SECRET_VERSION_PATTERN = re.compile(r"^[0-9a-zA-Z]{1,64}$")
"""Versions are 32 hex digits today; letters and digits keep the URL path safe without assuming the length."""
VAULT_NAME_PATTERN = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
"""Vault names: 3-24 letters, digits and single dashes, starting with a letter."""


@dataclass(frozen=True)
class SecretRef:
    """One secret (``version`` None: the latest) in one vault."""

    origin: VaultOrigin
    name: str
    version: str | None = None

    @property
    def vault_url(self) -> str:
        return self.origin.url

    @property
    def key(self) -> tuple[str, str, str]:
        """Cache identity: Key Vault names and versions are case-insensitive."""
        return (self.origin.url, self.name.lower(), (self.version or "").lower())

    def __str__(self) -> str:
        return f"{self.origin.url}secrets/{self.name}" + (f"/{self.version}" if self.version else "")


def check_secret_name(name: object, *, vault_url: str | None = None) -> str:
    if not isinstance(name, str) or not SECRET_NAME_PATTERN.fullmatch(name):
        shown = repr(name)[:80]
        raise InvalidSecretNameError(
            f"{shown} is not a Key Vault secret name: use 1-127 letters, digits and dashes (^[0-9a-zA-Z-]{{1,127}}$)",
            vault_url=vault_url,
            secret_name=name if isinstance(name, str) else None,
        )
    return name


def check_secret_version(version: object, *, name: str, vault_url: str | None = None) -> str | None:
    if version is None or version == "":
        return None
    if not isinstance(version, str) or not SECRET_VERSION_PATTERN.fullmatch(version):
        raise InvalidSecretNameError(
            f"{repr(version)[:80]} is not a Key Vault secret version (letters and digits, e.g. 32 hex digits) "
            f"for secret {name!r}",
            vault_url=vault_url,
            secret_name=name,
        )
    return version


def is_reference(value: object) -> bool:
    """True if ``value`` is a string in the ``@Microsoft.KeyVault(...)`` form (valid or not)."""
    return isinstance(value, str) and value.lstrip()[: len(REFERENCE_PREFIX)].lower() == REFERENCE_PREFIX.lower()


def parse_reference(value: str, *, vault_suffix: str = DEFAULT_VAULT_SUFFIX) -> SecretRef:
    """The secret a reference names. ``vault_suffix`` turns ``VaultName=v`` into ``https://v.<suffix>/``
    (``vault.azure.cn`` etc. in sovereign clouds); ``127.0.0.1:<port>`` names the emulator's vault on that
    port (``vault_name_origin``)."""
    text = value.strip()
    if not is_reference(text) or not text.endswith(")"):
        raise _invalid(
            value, "it must be @Microsoft.KeyVault(SecretUri=...) or @Microsoft.KeyVault(VaultName=...;SecretName=...)"
        )
    fields = _fields(value, text[len(REFERENCE_PREFIX) : -1])
    if "secreturi" in fields:
        if len(fields) != 1:
            raise _invalid(value, "SecretUri cannot be combined with other keys")
        return _from_secret_uri(value, fields["secreturi"])
    return _from_vault_name(value, fields, vault_suffix)


def _fields(value: str, body: str) -> dict[str, str]:
    known = {"secreturi", "vaultname", "secretname", "secretversion"}
    fields: dict[str, str] = {}
    for part in body.split(";"):
        if not part.strip():
            continue
        key, equals, item = part.partition("=")
        key, item = key.strip().lower(), item.strip()
        if not equals or not item:
            raise _invalid(value, f"{part.strip()!r} is not key=value")
        if key not in known:
            raise _invalid(value, f"unknown key {key!r}; use SecretUri, or VaultName, SecretName and SecretVersion")
        if key in fields:
            raise _invalid(value, f"{key!r} is given twice")
        fields[key] = item
    return fields


def _from_secret_uri(value: str, uri: str) -> SecretRef:
    try:
        address = parse_secret_uri(uri)
    except SecretUriError as exc:
        raise _invalid(value, f"SecretUri is not https://<vault>/secrets/<name>[/<version>]: {exc}") from None
    return _ref(value, address.origin, address.name, address.version)


def _from_vault_name(value: str, fields: dict[str, str], vault_suffix: str) -> SecretRef:
    if "vaultname" not in fields or "secretname" not in fields:
        raise _invalid(value, "VaultName and SecretName are both required")
    vault = fields["vaultname"]
    if not VAULT_NAME_PATTERN.fullmatch(vault):
        raise _invalid(value, f"VaultName {vault!r} is not a vault name (3-24 letters, digits and single dashes)")
    try:
        origin = vault_name_origin(vault, vault_suffix)
    except ValueError as exc:
        raise _invalid(value, f"VaultName with suffix {vault_suffix!r}: {exc}") from None
    return _ref(value, origin, fields["secretname"], fields.get("secretversion"))


def vault_name_origin(vault: str, vault_suffix: str = DEFAULT_VAULT_SUFFIX) -> VaultOrigin:
    """Where ``VaultName=<vault>`` lives: ``https://<vault>.<suffix>/`` for a DNS suffix (``vault.azure.net``,
    ``vault.azure.cn``); for a loopback address suffix (``127.0.0.1:8443``, the emulator's ``--port``) the one
    vault served at that address, whatever the name, since ``*.localhost`` names do not resolve everywhere
    and an address has no names below it. ``ValueError`` for a suffix that is neither."""
    by_address = address_suffix_vault(vault_suffix)
    if by_address is not None:
        return by_address
    return VaultOrigin.parse(f"https://{vault}.{vault_suffix.strip('.')}/")


def _ref(value: str, origin: VaultOrigin, name: str, version: str | None) -> SecretRef:
    try:
        check_secret_name(name, vault_url=origin.url)
        checked_version = check_secret_version(version, name=name, vault_url=origin.url)
    except InvalidSecretNameError as exc:
        raise _invalid(value, exc.message, vault_url=origin.url) from None
    return SecretRef(origin, name, checked_version)


def _invalid(value: str, why: str, *, vault_url: str | None = None) -> InvalidReferenceError:
    shown = value if len(value) <= 300 else value[:300] + "..."
    return InvalidReferenceError(f"invalid Key Vault reference {shown!r}: {why}", vault_url=vault_url)
