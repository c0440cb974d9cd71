"""``VaultName=`` references against the local emulator: a vault suffix that is a loopback address names the
one vault served there (an IP address has no names below it), and the allow-list grows by exactly that
origin, never by more."""

from __future__ import annotations

import pytest

from appauth_core import InvalidReferenceError, KeyVaultConfigurationError, KeyVaultSecrets, VaultNotAllowedError
from appauth_core.keyvault._references import parse_reference
from appauth_core.tokens._vault_hosts import VaultHostAllowList, VaultOrigin

from .secrets_support import provider, secret_uri, unique, vault_port


@pytest.mark.parametrize(
    ("suffix", "url"),
    [
        ("127.0.0.1:8443", "https://127.0.0.1:8443/"),
        ("127.0.0.1", "https://127.0.0.1/"),
        ("[::1]:8443", "https://[::1]:8443/"),
        ("127.0.0.1:8443.", "https://127.0.0.1:8443/"),
    ],
)
def test_a_loopback_address_suffix_names_the_one_vault_served_there(suffix, url):
    for vault in ("myvault", "other-vault"):
        ref = parse_reference(f"@Microsoft.KeyVault(VaultName={vault};SecretName=db-password)", vault_suffix=suffix)
        assert (ref.vault_url, ref.name) == (url, "db-password")


def test_dns_suffixes_keep_the_vault_name_as_a_label():
    ref = parse_reference("@Microsoft.KeyVault(VaultName=myvault;SecretName=x)", vault_suffix="vault.azure.cn")
    assert ref.vault_url == "https://myvault.vault.azure.cn/"
    local = parse_reference("@Microsoft.KeyVault(VaultName=local;SecretName=x)", vault_suffix="localhost:8443")
    assert local.vault_url == "https://local.localhost:8443/"


def test_the_vault_name_is_still_checked_with_an_address_suffix():
    with pytest.raises(InvalidReferenceError, match="not a vault name"):
        parse_reference("@Microsoft.KeyVault(VaultName=my_vault;SecretName=x)", vault_suffix="127.0.0.1:8443")


@pytest.mark.parametrize("suffix", ["10.0.0.5:8443", "192.168.1.20", "[2001:db8::1]:8443", "0.0.0.0:8443"])
def test_an_address_that_is_not_loopback_is_no_vault_suffix(suffix):
    with pytest.raises(KeyVaultConfigurationError, match="loopback"):
        KeyVaultSecrets(vault_suffix=suffix)
    with pytest.raises(InvalidReferenceError, match="loopback"):
        parse_reference("@Microsoft.KeyVault(VaultName=myvault;SecretName=x)", vault_suffix=suffix)


def test_an_address_suffix_allows_exactly_its_origin():
    allow = VaultHostAllowList.build(vault_suffix="127.0.0.1:8443")
    assert allow.allows(VaultOrigin("127.0.0.1", 8443))
    for other in [VaultOrigin("127.0.0.1", 8444), VaultOrigin("127.0.0.2", 8443), VaultOrigin("127.0.0.1")]:
        assert not allow.allows(other), other
    assert "127.0.0.1:8443" in [str(p) for p in allow.patterns]
    assert "*.127.0.0.1:8443" not in [str(p) for p in allow.patterns]


def test_vault_name_references_resolve_against_the_emulator(azure_emulator, azure_emulator_env):
    vault, name = azure_emulator.vault, unique()
    first = vault.set_secret(name, "one")
    vault.set_secret(name, "two")
    # no vault_url, no allowed_hosts, no DNS or certificate tricks: the suffix alone points at the emulator
    secrets = KeyVaultSecrets(provider=provider(), vault_suffix=f"127.0.0.1:{vault_port(vault)}")
    assert secrets.resolve(f"@Microsoft.KeyVault(VaultName=myvault;SecretName={name})") == "two"
    pinned = f"@Microsoft.KeyVault(VaultName=myvault;SecretName={name};SecretVersion={first.version})"
    assert secrets.resolve(pinned) == "one"
    assert secrets.resolve_all({"DATABASES": {"default": {"PASSWORD": pinned}}}) == {
        "DATABASES": {"default": {"PASSWORD": "one"}}
    }
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2


def test_the_allow_list_still_refuses_other_hosts_before_any_request(azure_emulator, azure_emulator_env):
    other = azure_emulator.vaults.get("suffix-other") or azure_emulator.add_vault("suffix-other")
    name = unique()
    other.set_secret(name, "must not be read")
    secrets = KeyVaultSecrets(provider=provider(), vault_suffix=f"127.0.0.1:{vault_port(azure_emulator.vault)}")
    refused = [
        secret_uri(other, name),  # another port on the same loopback address is another server
        f"@Microsoft.KeyVault(SecretUri=https://127.0.0.2:{vault_port(azure_emulator.vault)}/secrets/{name})",
        f"@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/{name})",
    ]
    for reference in refused:
        with pytest.raises(VaultNotAllowedError):
            secrets.resolve(reference)
    assert azure_emulator.counters["keyvault"] == 0
    assert azure_emulator.counters["mi"] == 0  # no token was even asked for
