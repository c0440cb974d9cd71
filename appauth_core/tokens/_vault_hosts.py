"""Which hosts may receive a Key Vault token: the vault allow-list.

A ``@Microsoft.KeyVault(SecretUri=...)`` reference names its own host, and settings can come from places an
attacker may write to (an environment variable, a config file, a database row). Sending the app's Key Vault
token to whatever host a reference names would hand that token out, so every vault host is checked against
an allow-list before a token is requested: Azure's public and sovereign vault suffixes, the configured vault,
and hosts the app adds. Hosts are compared as origins (scheme, host, port), because another port on the same
host is another server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._internal.setting_names import setting_name
from ..errors import VaultNotAllowedError

HTTPS_PORT = 443

PUBLIC_VAULT_SUFFIXES = (
    "vault.azure.net",  # Azure public cloud
    "vault.azure.cn",  # Azure operated by 21Vianet (China)
    "vault.usgovcloudapi.net",  # Azure Government
    "vault.microsoftazure.de",  # Azure Germany (legacy)
)
"""Key Vault's DNS suffixes per cloud (secrets only: Managed HSM does not serve secrets)."""

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


@dataclass(frozen=True)
class VaultOrigin:
    """Where a vault lives: always https, a lower-case host and an explicit port."""

    host: str
    port: int = HTTPS_PORT

    @property
    def url(self) -> str:
        """The vault URL SecretClient is given (``https://host[:port]/``, no port when it is 443)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}/" if self.port == HTTPS_PORT else f"https://{host}:{self.port}/"

    @property
    def is_loopback(self) -> bool:
        """127.0.0.0/8, ::1, ``localhost`` and ``*.localhost`` (RFC 6761): the local emulator's hosts."""
        if self.host == "localhost" or self.host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return self.url

    @classmethod
    def parse(cls, url: str, *, allow_path: bool = False) -> VaultOrigin:
        """The origin of an https URL; ``ValueError`` for anything else (http, credentials in the URL, a
        query, a path unless ``allow_path``). Only the parsed parts are ever used to build a request, so what
        was checked is what is sent."""
        if "\\" in url or any(c.isspace() for c in url):
            raise ValueError("a vault URL cannot contain backslashes or whitespace")
        parts = urlsplit(url)
        if parts.scheme.lower() != "https":
            raise ValueError("a vault URL must be https (Key Vault tokens are never sent in clear text)")
        if parts.username is not None or parts.password is not None:
            raise ValueError("a vault URL cannot contain a user name or password")
        if parts.query or parts.fragment:
            raise ValueError("a vault URL cannot have a query or a fragment")
        if not allow_path and parts.path not in ("", "/"):
            raise ValueError("a vault URL has no path (e.g. 'https://myvault.vault.azure.net/')")
        port = parts.port  # raises ValueError for a port that is not a number in range
        if port == 0:  # urllib3 sends ":0" to the scheme's default port: what was checked would not be what is sent
            raise ValueError("a vault URL cannot have port 0")
        return cls(_host(parts.hostname or ""), port if port is not None else HTTPS_PORT)


def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST_NAME.match(host):
        raise ValueError(f"{host!r} is not a host name")
    return host


@dataclass(frozen=True)
class HostPattern:
    """One allow-list entry: an exact origin, or ``*.suffix`` (any single label below the suffix) on a port."""

    host: str
    port: int = HTTPS_PORT
    wildcard: bool = False

    def matches(self, origin: VaultOrigin) -> bool:
        if origin.port != self.port:
            return False
        if not self.wildcard:
            return origin.host == self.host
        label, dot, rest = origin.host.partition(".")
        return bool(label) and bool(dot) and rest == self.host

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.wildcard else f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == HTTPS_PORT else f"{host}:{self.port}"  # [::1]:8443, not ::1:8443

    @classmethod
    def parse(cls, entry: str) -> HostPattern:
        """``https://host[:port]``, ``host[:port]``, ``*.suffix[:port]`` or ``https://*.suffix[:port]``."""
        text = entry.strip()
        if "://" not in text:
            text = "https://" + text
        wildcard = False
        scheme, _, rest = text.partition("://")
        if rest.startswith("*."):
            wildcard, rest = True, rest[2:]
        try:
            origin = VaultOrigin.parse(f"{scheme}://{rest}")
        except ValueError as exc:
            raise ValueError(f"allowed vault host {entry!r} is not valid: {exc}") from None
        return cls(origin.host, origin.port, wildcard)


def _suffix_origin(vault_suffix: str) -> VaultOrigin:
    """A vault suffix (``host[:port]``, no scheme or path) read as the origin it would be as a host."""
    text = vault_suffix.strip().strip(".")
    if not text or "/" in text or "@" in text:
        raise ValueError("a vault suffix is a host with an optional port, e.g. 'vault.azure.cn' or '127.0.0.1:8443'")
    return VaultOrigin.parse(f"https://{text}/")


def address_suffix_vault(vault_suffix: str) -> VaultOrigin | None:
    """The one vault a suffix names when it is a loopback address (``127.0.0.1:8443``, ``[::1]:8443``): an IP
    address has no names below it, and the emulator serves one vault per port, so every ``VaultName=`` goes
    there. None for a DNS suffix (``vault.azure.cn``, ``localhost:8443``). ``ValueError`` for an address that
    is not loopback (in Azure a vault is always reached by name) or a suffix that is no host at all."""
    origin = _suffix_origin(vault_suffix)
    try:
        address = ipaddress.ip_address(origin.host)
    except ValueError:
        return None
    if not address.is_loopback:
        raise ValueError(
            f"{vault_suffix!r} is an IP address that is not loopback: only the local emulator is reached by "
            "address (e.g. '127.0.0.1:8443'); Azure's vault suffixes are names such as 'vault.azure.net'"
        )
    return origin


def suffix_pattern(vault_suffix: str) -> HostPattern:
    """The allow-list entry a configured vault suffix adds: ``*.<suffix>`` (one label below it) for a DNS
    suffix, exactly the vault's origin for a loopback address suffix (see ``address_suffix_vault``)."""
    vault = address_suffix_vault(vault_suffix)
    if vault is not None:
        return HostPattern(vault.host, vault.port)
    origin = _suffix_origin(vault_suffix)
    return HostPattern(origin.host, origin.port, wildcard=True)


class VaultHostAllowList:
    """Decides whether a vault origin may receive a token. Immutable once built. ``setting``: where the app
    adds hosts, as the user writes it (``setting_names``), for the refusal's advice."""

    def __init__(self, patterns: Iterable[HostPattern], *, setting: str | None = None) -> None:
        self._patterns = tuple(dict.fromkeys(patterns))
        self._setting = setting or setting_name("ALLOWED_VAULT_HOSTS")

    @classmethod
    def build(
        cls,
        *,
        vault: VaultOrigin | None = None,
        vault_suffix: str | None = None,
        allowed_hosts: Iterable[str] = (),
        setting: str | None = None,
    ) -> VaultHostAllowList:
        """The public and sovereign suffixes, the configured vault and suffix, and the app's own entries."""
        patterns = [HostPattern(suffix, HTTPS_PORT, wildcard=True) for suffix in PUBLIC_VAULT_SUFFIXES]
        if vault is not None:
            patterns.append(HostPattern(vault.host, vault.port))
        if vault_suffix is not None:
            patterns.append(suffix_pattern(vault_suffix))
        patterns.extend(HostPattern.parse(entry) for entry in allowed_hosts)
        return cls(patterns, setting=setting)

    @property
    def patterns(self) -> tuple[HostPattern, ...]:
        return self._patterns

    def allows(self, origin: VaultOrigin) -> bool:
        return any(pattern.matches(origin) for pattern in self._patterns)

    def check(self, origin: VaultOrigin, secret_name: str | None = None) -> None:
        """Raise ``VaultNotAllowedError`` unless ``origin`` is allowed; called before any token is asked for."""
        if self.allows(origin):
            return
        raise VaultNotAllowedError(
            f"vault {origin.url} is not an allowed Key Vault host, so no token was sent to it"
            + (f" (secret {secret_name!r})" if secret_name else "")
            + f". Allowed: {', '.join(str(p) for p in self._patterns)}. If this host really is your vault, "
            f"add it to {self._setting}: scheme, host and port must match.",
            vault_url=origin.url,
            secret_name=secret_name,
            setting=self._setting,
        )
