"""The address of one Key Vault secret, ``https://<vault>/secrets/<name>[/<version>]``: what a
``@Microsoft.KeyVault(SecretUri=...)`` reference and a ``KeyVaultCertificateSecretIdentifier`` both name.

Here, below ``keyvault``, because the Key Vault certificate source (``tokens``) reads such an address too and
``tokens`` must not import ``keyvault``. Each caller turns ``SecretUriError`` into its own error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ._vault_hosts import VaultOrigin

Problem = Literal["not_a_uri", "not_https", "not_a_secret"]


class SecretUriError(ValueError):
    """The text is not a secret's address. ``problem``: ``not_a_uri`` (not an absolute URI, or one a vault URL
    cannot be: credentials, a query, a bad port ...), ``not_https``, or ``not_a_secret`` (the path is not
    ``/secrets/<name>[/<version>]``). The message says why, without the text."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class SecretAddress:
    """One secret (``version`` None: the latest) in the vault at ``origin``. Names are not checked here."""

    origin: VaultOrigin
    name: str
    version: str | None = None


def parse_secret_uri(uri: str) -> SecretAddress:
    """The secret ``uri`` names; a trailing slash means the latest version. ``SecretUriError`` otherwise."""
    text = uri.strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unclosed "[" in the host
        raise SecretUriError("not_a_uri", f"not a URI ({exc})") from None
    if not parts.scheme or not parts.netloc:
        raise SecretUriError("not_a_uri", "not an absolute URI (https://<vault>/secrets/<name>)")
    if parts.scheme.lower() != "https":
        raise SecretUriError("not_https", "a secret's address must be https (Key Vault tokens are never sent in clear)")
    try:
        origin = VaultOrigin.parse(text, allow_path=True)
    except ValueError as exc:
        raise SecretUriError("not_a_uri", str(exc)) from None
    segments = parts.path.split("/")[1:]
    if segments and segments[-1] == "":
        segments = segments[:-1]
    if len(segments) not in (2, 3) or segments[0].lower() != "secrets" or not all(segments[1:]):
        raise SecretUriError("not_a_secret", "the path must be /secrets/<name>[/<version>]")
    return SecretAddress(origin, segments[1], segments[2] if len(segments) == 3 else None)
