"""One exception tree for appauth. Every error says what was tried and how to fix it, and never carries a
secret (client secret, AppKey, token, certificate key or password, secret value).

    AppAuthError                              root: catch this to catch everything appauth raises
     └── AzureServiceTokenProviderError       no token: .resource, .authority, .method, .attempts
          ├── ConnectionStringError           (also ValueError) the connection string is wrong: .key
          ├── InvalidRequestError             (also ValueError) a bad resource, tenant or scope argument
          └── SourceUnavailableError          this way of getting a token cannot work here (not
                                              installed, not signed in, no identity endpoint); the
                                              default chain moves on to the next method
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AppAuthError(Exception):
    """Root of every error appauth raises."""


@dataclass(frozen=True)
class Attempt:
    """One method the provider tried, and why it did not give a token."""

    method: str
    reason: str

    def __str__(self) -> str:
        return f"{self.method}: {self.reason}"


class AzureServiceTokenProviderError(AppAuthError):
    """No access token could be had. ``attempts`` lists each method tried with its own reason."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        authority: str | None = None,
        method: str | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.authority = authority
        self.method = method
        self.attempts = tuple(attempts)

    def __str__(self) -> str:
        return self.message


class ConnectionStringError(AzureServiceTokenProviderError, ValueError):
    """The connection string cannot be used; ``key`` names the offending key when there is one."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SourceUnavailableError(AzureServiceTokenProviderError):
    """This method cannot work in this environment; a chain should try the next one."""


class InvalidRequestError(AzureServiceTokenProviderError, ValueError):
    """The caller passed an argument no token can be had for (an empty resource, a bad tenant ID)."""
