"""The vault allow-list's own rules: origins (scheme, host, port), patterns, and what is loopback."""

from __future__ import annotations

import pytest

from appauth_core.errors import VaultNotAllowedError
from appauth_core.tokens._vault_hosts import PUBLIC_VAULT_SUFFIXES, HostPattern, VaultHostAllowList, VaultOrigin


@pytest.mark.parametrize(
    ("url", "host", "port", "normalised"),
    [
        ("https://myvault.vault.azure.net/", "myvault.vault.azure.net", 443, "https://myvault.vault.azure.net/"),
        ("https://MyVault.Vault.Azure.Net", "myvault.vault.azure.net", 443, "https://myvault.vault.azure.net/"),
        ("https://myvault.vault.azure.net:443/", "myvault.vault.azure.net", 443, "https://myvault.vault.azure.net/"),
        ("https://127.0.0.1:8443/", "127.0.0.1", 8443, "https://127.0.0.1:8443/"),
        ("https://[::1]:8443/", "::1", 8443, "https://[::1]:8443/"),
    ],
)
def test_origins_are_normalised(url, host, port, normalised):
    origin = VaultOrigin.parse(url)
    assert (origin.host, origin.port, origin.url) == (host, port, normalised)


@pytest.mark.parametrize(
    "url",
    [
        "http://myvault.vault.azure.net/",  # tokens only over TLS
        "https://user:pw@myvault.vault.azure.net/",
        "https://evil.example@myvault.vault.azure.net/",
        "https://myvault.vault.azure.net/?x=1",
        "https://myvault.vault.azure.net/#x",
        "https://myvault.vault.azure.net/secrets/x",  # a vault URL has no path
        "https://myvault.vault.azure.net:99999/",
        "https://myvault.vault.azure.net\\@evil.example/",
        "https://my vault.vault.azure.net/",
        "https://-bad-.vault.azure.net/",
        "https:///",
        "myvault.vault.azure.net",
    ],
)
def test_origins_refuse_anything_but_a_plain_https_host(url):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by the reason
        VaultOrigin.parse(url)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("kv.localhost", True),
        ("myvault.vault.azure.net", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert VaultOrigin(host, 8443).is_loopback is loopback


def test_public_and_sovereign_vaults_are_allowed_on_443_only():
    allow = VaultHostAllowList.build()
    for suffix in PUBLIC_VAULT_SUFFIXES:
        assert allow.allows(VaultOrigin(f"myvault.{suffix}"))
        assert not allow.allows(VaultOrigin(f"myvault.{suffix}", 8443))  # another port is another server
        assert not allow.allows(VaultOrigin(suffix))  # the suffix itself is not a vault
        assert not allow.allows(VaultOrigin(f"a.b.{suffix}"))  # vault names are one label
    assert not allow.allows(VaultOrigin("myvault.vault.azure.net.evil.example"))
    assert not allow.allows(VaultOrigin("evilvault.azure.net"))
    assert not allow.allows(VaultOrigin("managedhsm.azure.net"))


def test_the_configured_vault_is_allowed_on_its_own_port():
    allow = VaultHostAllowList.build(vault=VaultOrigin("127.0.0.1", 8443))
    assert allow.allows(VaultOrigin("127.0.0.1", 8443))
    assert not allow.allows(VaultOrigin("127.0.0.1", 8444))
    assert not allow.allows(VaultOrigin("localhost", 8443))  # the same machine, but not the configured host


def test_the_configured_vault_suffix_is_allowed():
    allow = VaultHostAllowList.build(vault_suffix="localhost:8443")
    assert allow.allows(VaultOrigin("kv.localhost", 8443))
    assert not allow.allows(VaultOrigin("kv.localhost", 443))


@pytest.mark.parametrize(
    ("entry", "allowed", "refused"),
    [
        ("https://vault.internal.example:8443", ("vault.internal.example", 8443), ("vault.internal.example", 443)),
        ("vault.internal.example", ("vault.internal.example", 443), ("other.internal.example", 443)),
        ("*.vault.example", ("a.vault.example", 443), ("vault.example", 443)),
        ("https://*.vault.example:8443/", ("a.vault.example", 8443), ("a.vault.example", 443)),
    ],
)
def test_app_entries(entry, allowed, refused):
    allow = VaultHostAllowList([HostPattern.parse(entry)])
    assert allow.allows(VaultOrigin(*allowed))
    assert not allow.allows(VaultOrigin(*refused))


@pytest.mark.parametrize("entry", ["http://vault.example", "https://vault.example/path", "https://u@vault.example"])
def test_bad_app_entries_are_refused(entry):
    with pytest.raises(ValueError, match="allowed vault host"):
        HostPattern.parse(entry)


def test_refusal_names_the_vault_and_the_secret_and_how_to_allow_it():
    allow = VaultHostAllowList.build()
    with pytest.raises(VaultNotAllowedError) as caught:
        allow.check(VaultOrigin("evil.example"), "db-password")
    error = caught.value
    assert (error.vault_url, error.secret_name) == ("https://evil.example/", "db-password")
    assert "no token was sent" in str(error)
    assert "allowed_hosts" in str(error)


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ("https://[::1]:8443", "[::1]:8443"),  # not "::1:8443", which reads as another address
        ("[::1]", "[::1]"),
        ("myvault.example:8443", "myvault.example:8443"),
        ("*.vault.example", "*.vault.example"),
    ],
)
def test_allow_list_entries_are_shown_as_they_are_written(entry: str, shown: str) -> None:
    pattern = HostPattern.parse(entry)
    assert str(pattern) == shown
    assert HostPattern.parse(str(pattern)) == pattern  # what the error shows can be pasted back
