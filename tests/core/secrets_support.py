"""Helpers shared by the Key Vault secrets tests (a controllable clock, unique names, providers)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core.tokens._cache import TokenCache


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def unique(prefix: str = "s") -> str:
    """A fresh secret name: the emulator's vault lives for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def canary() -> str:
    """A secret value that must never appear in an error, a repr or a log line."""
    return f"CANARY{uuid.uuid4().hex}"


def provider() -> AzureServiceTokenProvider:
    """The App Service managed identity (``azure_emulator_env``), with a cache of its own."""
    return AzureServiceTokenProvider(cache=TokenCache())


def secrets_for(emulator, **kwargs) -> KeyVaultSecrets:
    kwargs.setdefault("provider", provider())
    return KeyVaultSecrets(emulator.vault.url, **kwargs)


def secret_uri(vault, name: str, version: str | None = None) -> str:
    return f"@Microsoft.KeyVault(SecretUri={vault.url}secrets/{name}" + (f"/{version})" if version else ")")


def resolve_localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """``*.localhost`` is loopback (RFC 6761) but this machine's resolver does not know it; VaultName
    references resolve to ``<vault>.localhost:<port>`` against the emulator, whose certificate covers it."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def localhost_certificate_transport() -> RequestsTransport:
    """A transport that checks the emulator's certificate against ``localhost`` whatever subdomain is asked
    for: its ``*.localhost`` name is a wildcard under a single label, which OpenSSL never matches."""

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["assert_hostname"] = "localhost"
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("https://", Adapter())
    return RequestsTransport(session=session)


def vault_port(vault) -> int:
    return int(vault.url.rstrip("/").rsplit(":", 1)[1])


def free_port() -> int:
    """A loopback port nothing listens on (for a Redis that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def without_vault_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``KeyVaultSecrets`` made from now on (the adapters' too) asks Key Vault once, with
    ``client_options={"retry_total": 0}``: for failures that are not transient, where azure-core's retries
    would only make a test wait."""
    set_up = KeyVaultSecrets.__init__

    def once(self: KeyVaultSecrets, *args: Any, **kwargs: Any) -> None:
        kwargs["client_options"] = {**(kwargs.get("client_options") or {}), "retry_total": 0}
        set_up(self, *args, **kwargs)

    monkeypatch.setattr(KeyVaultSecrets, "__init__", once)
