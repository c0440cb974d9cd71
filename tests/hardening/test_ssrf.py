"""SSRF: a Key Vault token, a client secret or a managed-identity header goes only where it is meant to go.

Foreign listeners stand on loopback ports (plain and TLS, IPv4 and IPv6) and record every connection. Host
names resolve to 127.0.0.1 (``dns`` fixture), so any name that slipped past the allow-list would reach one of
them; each lookup is recorded as well. Then references and vault URLs try every trick (IP literals in
decimal, hex and octal, ``user@host``, backslashes, look-alike and IDN hosts, ports, schemes), and the
endpoints the app does trust answer with redirects to the foreign listeners. Every attempt must end in a typed
error with nothing sent to a foreign listener and no token requested.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    InvalidReferenceError,
    KeyVaultConfigurationError,
    KeyVaultError,
    KeyVaultSecrets,
    VaultNotAllowedError,
    VaultResourceNotAllowedError,
)
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache

from .support import ForeignListener, ipv6_loopback_available

TOKEN_ENDPOINTS = ("mi", "entra")
IPV6 = ipv6_loopback_available()


class Foreign:
    """The foreign listeners of one test."""

    def __init__(self, emulator: AzureEmulator) -> None:
        tls = emulator.tls.server_context()
        self.plain = ForeignListener().start()
        self.tls = ForeignListener(tls=tls).start()
        self.tls6 = ForeignListener(host="::1", tls=tls).start() if IPV6 else None
        self.all = [listener for listener in (self.plain, self.tls, self.tls6) if listener is not None]

    def format(self, template: str) -> str:
        return template.format(p=self.plain.port, t=self.tls.port, t6=self.tls6.port if self.tls6 else 0)

    def connections(self) -> int:
        time.sleep(0.05)  # a connection being accepted right now is counted too
        return sum(len(listener.connections) for listener in self.all)

    def authorization_headers(self) -> list[str]:
        return [c.header("Authorization") or "" for listener in self.all for c in listener.connections if c.header(
            "Authorization")]  # fmt: skip

    def stop(self) -> None:
        for listener in self.all:
            listener.stop()


@pytest.fixture
def foreign(azure_emulator: AzureEmulator) -> Iterator[Foreign]:
    listeners = Foreign(azure_emulator)
    yield listeners
    listeners.stop()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name resolves to 127.0.0.1, where the foreign listeners are; the names looked up are kept."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            if name != "localhost":
                looked_up.append(name)
                host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def _token_requests(emulator: AzureEmulator) -> int:
    return sum(emulator.counters[endpoint] for endpoint in TOKEN_ENDPOINTS)


def _secrets(emulator: AzureEmulator, provider: AzureServiceTokenProvider | None = None) -> KeyVaultSecrets:
    provider = provider or AzureServiceTokenProvider("RunAs=App", cache=TokenCache())
    return KeyVaultSecrets(emulator.vault.url, provider, client_options={"retry_total": 0})


def _service_principal(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    app = emulator.app
    return AzureServiceTokenProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app.secrets[0]}",
        emulator.authority,
        cache=TokenCache(),
    )


# --- references naming a foreign host ------------------------------------------------------------------------

SECRET_URIS = {
    "a foreign loopback port": "https://127.0.0.1:{t}/secrets/x",
    "localhost": "https://localhost:{t}/secrets/x",
    "IPv6 loopback": "https://[::1]:{t6}/secrets/x",
    "IPv6 loopback, long form": "https://[0:0:0:0:0:0:0:1]:{t6}/secrets/x",
    "IPv4-mapped IPv6": "https://[::ffff:127.0.0.1]:{t}/secrets/x",
    "decimal IPv4 (2130706433)": "https://2130706433:{t}/secrets/x",
    "hex IPv4 (0x7f000001)": "https://0x7f000001:{t}/secrets/x",
    "octal IPv4 (0177.0.0.1)": "https://0177.0.0.1:{t}/secrets/x",
    "short IPv4 (127.1)": "https://127.1:{t}/secrets/x",
    "0 (this host)": "https://0:{t}/secrets/x",
    "the IMDS address": "https://169.254.169.254/secrets/x",  # must be refused, never contacted
    "a vault suffix followed by a foreign domain": "https://myvault.vault.azure.net.evil.example:{t}/secrets/x",
    "the suffix as a label": "https://vault.azure.net.evil.example/secrets/x",
    "mixed case": "https://MyVault.Vault.Azure.Net.Evil.Example:{t}/secrets/x",
    "user@host": "https://myvault.vault.azure.net@127.0.0.1:{t}/secrets/x",
    "user:password@host": "https://myvault.vault.azure.net:443@127.0.0.1:{t}/secrets/x",
    "a backslash before @": "https://127.0.0.1:{t}\\@myvault.vault.azure.net/secrets/x",
    "a backslash in the host": "https://myvault.vault.azure.net\\.evil.example:{t}/secrets/x",
    "a fragment before @": "https://127.0.0.1:{t}#@myvault.vault.azure.net/secrets/x",
    "a query in the host": "https://127.0.0.1:{t}?.vault.azure.net/secrets/x",
    "a percent-encoded dot": "https://myvault.vault.azure.net%2eevil.example:{t}/secrets/x",
    "fullwidth full stops": "https://myvault.vault.azure.net\uff0eevil.example:{t}/secrets/x",
    "ideographic full stops": "https://myvault\u3002vault\u3002azure\u3002net:{t}/secrets/x",
    "a Cyrillic look-alike": "https://myv\u0430ult.vault.azure.net.evil.example:{t}/secrets/x",
    "the Kelvin sign": "https://\u212aeyvault.vault.azure.net.evil.example:{t}/secrets/x",
    "punycode": "https://xn--mvault-3ve.vault.azure.net.evil.example:{t}/secrets/x",
    "a public vault on another port": "https://myvault.vault.azure.net:{t}/secrets/x",
    "port 0 (urllib3 would send it to 443)": "https://myvault.vault.azure.net:0/secrets/x",
    "two labels below the suffix": "https://a.myvault.vault.azure.net/secrets/x",
    "a Managed HSM host": "https://myhsm.managedhsm.azure.net/secrets/x",
    "plain http": "http://127.0.0.1:{p}/secrets/x",
    "no scheme": "//127.0.0.1:{t}/secrets/x",
}
VAULT_NAMES = {
    "a host in VaultName": "127.0.0.1:{t}/x#",
    "user@host in VaultName": "a@127.0.0.1",
    "a dotted VaultName": "evil.example",
    "a VaultName with a port": "myvault:{t}",
}
REFERENCES = {
    **{name: "@Microsoft.KeyVault(SecretUri=" + uri + ")" for name, uri in SECRET_URIS.items()},
    **{name: "@Microsoft.KeyVault(VaultName=" + vault + ";SecretName=x)" for name, vault in VAULT_NAMES.items()},
}


@pytest.mark.parametrize("reference", list(REFERENCES.values()), ids=list(REFERENCES))
def test_a_reference_to_a_foreign_host_sends_nothing(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign, dns: list[str], reference: str
) -> None:
    if "{t6}" in reference and not IPV6:
        pytest.skip("no IPv6 loopback here")
    text = foreign.format(reference)
    secrets = _secrets(azure_emulator)
    for attempt in (
        lambda: secrets.resolve(text),
        lambda: secrets.resolve_all({"DATABASES": {"default": {"PASSWORD": text}}}),
        lambda: secrets.refresh(text),
    ):
        with pytest.raises((VaultNotAllowedError, InvalidReferenceError)):
            attempt()
    assert foreign.connections() == 0
    assert dns == []  # refused before even a name lookup
    assert _token_requests(azure_emulator) == 0
    assert azure_emulator.counters["keyvault"] == 0


def test_one_foreign_reference_stops_every_read(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign
) -> None:
    """Every host is checked before the first request: the good references are not read either."""
    azure_emulator.vault.set_secret("good", "value")
    settings = {
        "A": f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/good)",
        "B": foreign.format("@Microsoft.KeyVault(SecretUri=https://127.0.0.1:{t}/secrets/x)"),
    }
    with pytest.raises(VaultNotAllowedError):
        _secrets(azure_emulator).resolve_all(settings)
    assert foreign.connections() == 0
    assert _token_requests(azure_emulator) == 0
    assert azure_emulator.counters["keyvault"] == 0


@pytest.mark.parametrize(
    "vault_url",
    [
        "http://127.0.0.1:{p}/",
        "https://myvault.vault.azure.net@127.0.0.1:{t}/",
        "https://127.0.0.1:{t}\\@myvault.vault.azure.net/",
        "https://127.0.0.1:{t}/?.vault.azure.net",
        "https://127.0.0.1:{t}/#.vault.azure.net",
        "https://127.0.0.1:{t}/secrets/x",
        "https://127.0.0.1:99999/",
        "https://myvault.vault.azure.net\uff0e127.0.0.1:{t}/",
    ],
)
def test_a_vault_url_or_allowed_host_with_a_trick_is_a_configuration_error(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign, vault_url: str
) -> None:
    url = foreign.format(vault_url)
    with pytest.raises(KeyVaultConfigurationError):
        KeyVaultSecrets(url)
    with pytest.raises(KeyVaultConfigurationError):
        KeyVaultSecrets(azure_emulator.vault.url, allowed_hosts=[url])
    assert foreign.connections() == 0


# --- redirects from endpoints the app trusts ---------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_vault_redirecting_elsewhere(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign, status: int
) -> None:
    """The request that carries the token is answered with a redirect: it is not followed."""
    azure_emulator.vault.set_secret("redirected", "value")
    location = foreign.format("https://127.0.0.1:{t}/secrets/redirected")
    azure_emulator.faults.inject("keyvault.local.get_secret", status=status, headers={"Location": location}, times=4)
    with pytest.raises(KeyVaultError):
        _secrets(azure_emulator).get("redirected")
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1
    assert foreign.connections() == 0


def test_a_configured_vault_that_redirects_on_the_challenge(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign
) -> None:
    """The configured vault (allowed) is a server that redirects its first, unauthenticated request."""
    second = ForeignListener(tls=azure_emulator.tls.server_context()).start()
    first = ForeignListener(tls=azure_emulator.tls.server_context(), redirect_to=f"{second.url}secrets/x").start()
    try:
        secrets = KeyVaultSecrets(first.url, AzureServiceTokenProvider("RunAs=App", cache=TokenCache()))
        with pytest.raises(KeyVaultError):
            secrets.get("x")
        time.sleep(0.05)
        assert len(first.requests) == 1
        assert first.requests[0].header("Authorization") is None  # no challenge was answered: no token
        assert second.connections == []
        assert _token_requests(azure_emulator) == 0
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_managed_identity_endpoint_redirecting_elsewhere(
    azure_emulator: AzureEmulator, foreign: Foreign, status: int
) -> None:
    """The identity header would follow a redirect to wherever it points."""
    location = foreign.format("http://127.0.0.1:{p}/msi/token")
    azure_emulator.faults.inject("mi.app_service", status=status, headers={"Location": location}, times=10)
    provider = AzureServiceTokenProvider(
        "RunAs=App;MsiRetryTimeout=1", cache=TokenCache(), environ=azure_emulator.app_service_env()
    )
    with pytest.raises(AppAuthError):
        provider.get_access_token("https://vault.azure.net")
    assert foreign.connections() == 0


@pytest.mark.parametrize(("endpoint", "status"), [("entra.token", 307), ("entra.token", 308), ("entra.token", 302),
                                                  ("entra.discovery", 302), ("entra.discovery", 307)])  # fmt: skip
def test_entra_id_redirecting_elsewhere(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign, endpoint: str, status: int
) -> None:
    """Fixed here: msal follows redirects, and a 307 or 308 re-posts the form with the client secret; the
    foreign host's answer was then taken for a token."""
    location = foreign.format("https://127.0.0.1:{t}/tenant/oauth2/v2.0/token")
    azure_emulator.faults.inject(endpoint, status=status, headers={"Location": location}, times=4)
    with pytest.raises(AppAuthError):
        _service_principal(azure_emulator).get_access_token("https://vault.azure.net")
    assert foreign.connections() == 0


def test_a_key_vault_certificate_vault_redirecting_elsewhere(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign
) -> None:
    """Fixed here: the certificate's SecretClient followed redirects (azure-core dropped the token, but the
    request itself went to the foreign host)."""
    location = foreign.format("https://127.0.0.1:{t}/secrets/cert")
    azure_emulator.faults.inject("keyvault.local.get_secret", status=307, headers={"Location": location}, times=4)
    identity = azure_emulator.user_assigned_identity.client_id
    provider = AzureServiceTokenProvider(
        f"RunAs=App;AppId={azure_emulator.app.app_id};TenantId={azure_emulator.tenant_id};"
        f"KeyVaultCertificateSecretIdentifier={azure_emulator.vault.url}secrets/cert;"
        f"KeyVaultUserAssignedManagedIdentityId={identity}",
        azure_emulator.authority,
        cache=TokenCache(),
        environ=azure_emulator.app_service_env(),
    )
    with pytest.raises(AppAuthError):
        provider.get_access_token("https://vault.azure.net")
    assert foreign.connections() == 0


# --- a challenge naming a foreign authority or resource --------------------------------------------------------


@pytest.mark.parametrize("name", ["authority", "resource"])
def test_a_vault_challenge_naming_a_foreign_host(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], foreign: Foreign, name: str
) -> None:
    """Only the tenant is taken from a challenge's authority (tokens come from the provider's own Entra ID); a
    foreign resource gets no token at all (test_security_vault_scope.py), let alone one sent to that host."""
    # A vault of its own: azure-keyvault caches each vault's challenge for the process.
    vault = azure_emulator.add_vault(f"challenge{uuid.uuid4().hex[:8]}")
    vault.set_secret("challenged", "value")
    authority = f"{azure_emulator.authority}{azure_emulator.tenant_id}"
    resource = "https://vault.azure.net"
    if name == "authority":
        authority = foreign.format("https://127.0.0.1:{t}/") + azure_emulator.tenant_id
    else:
        resource = foreign.format("https://127.0.0.1:{t}")
    challenge = f'Bearer authorization="{authority}", resource="{resource}"'
    body = {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}
    azure_emulator.faults.inject(
        f"keyvault.{vault.name}.challenge", status=401, body=body, headers={"WWW-Authenticate": challenge}
    )
    secrets = KeyVaultSecrets(vault.url, _service_principal(azure_emulator))
    if name == "resource":  # not a Key Vault resource: refused before a token is requested
        with pytest.raises(VaultResourceNotAllowedError):
            secrets.get("challenged")
        assert _token_requests(azure_emulator) == 0
    else:
        assert secrets.get("challenged") == "value"
    assert azure_emulator.counters[f"keyvault.{vault.name}.get_secret"] == (0 if name == "resource" else 1)
    assert azure_emulator.counters[f"keyvault.{vault.name}.challenge"] == 1
    assert foreign.connections() == 0
    assert foreign.authorization_headers() == []
