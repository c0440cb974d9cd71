"""``@Microsoft.KeyVault(...)`` references: the grammar alone, then resolved against the emulator (both forms,
nested settings, and the allow-list refusing a foreign host before any token is asked for)."""

from __future__ import annotations

import collections

import pytest

from appauth_core import (
    InvalidReferenceError,
    KeyVaultError,
    KeyVaultSecrets,
    VaultNotAllowedError,
    is_reference,
)
from appauth_core.keyvault._references import parse_reference
from appauth_core.tokens._vault_hosts import VaultOrigin

from .secrets_support import (
    localhost_certificate_transport,
    provider,
    resolve_localhost_subdomains,
    secret_uri,
    secrets_for,
    unique,
    vault_port,
)

VERSION = "4387e9f3d6e14c459867679a90fd0f79"

# --- grammar ------------------------------------------------------------------------------------------


HOST = "myvault.vault.azure.net"
URI = f"https://{HOST}/secrets/db-password"


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (f"@Microsoft.KeyVault(SecretUri={URI})", None),
        (f"@Microsoft.KeyVault(SecretUri={URI}/)", None),
        (f"@Microsoft.KeyVault(SecretUri={URI}/{VERSION})", VERSION),
        ("@Microsoft.KeyVault(VaultName=myvault;SecretName=db-password)", None),
        (f"@Microsoft.KeyVault(VaultName=myvault;SecretName=db-password;SecretVersion={VERSION})", VERSION),
        ("  @microsoft.keyvault( vaultname = myvault ; secretname = db-password ; )  ", None),
    ],
)
def test_both_forms_parse(text, version):
    assert is_reference(text)
    ref = parse_reference(text)
    assert (ref.origin, ref.name, ref.version) == (VaultOrigin(HOST), "db-password", version)


def test_vault_name_uses_the_configured_cloud_suffix():
    ref = parse_reference("@Microsoft.KeyVault(VaultName=myvault;SecretName=x)", vault_suffix="vault.azure.cn")
    assert ref.vault_url == "https://myvault.vault.azure.cn/"
    local = parse_reference("@Microsoft.KeyVault(VaultName=local;SecretName=x)", vault_suffix="localhost:8443")
    assert local.vault_url == "https://local.localhost:8443/"


@pytest.mark.parametrize(
    "value", ["", "plain", "https://myvault.vault.azure.net/secrets/x", "@Microsoft.Other(x)", 42, None]
)
def test_anything_else_is_not_a_reference(value):
    assert not is_reference(value)


@pytest.mark.parametrize(
    "text",
    [
        "@Microsoft.KeyVault(",
        "@Microsoft.KeyVault()",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/x",  # no closing parenthesis
        "@Microsoft.KeyVault(SecretUri=http://myvault.vault.azure.net/secrets/x)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/keys/x)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/x/v/extra)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/bad_name)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/x?api-version=7.4)",
        "@Microsoft.KeyVault(SecretUri=https://u@myvault.vault.azure.net/secrets/x)",
        "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/x;VaultName=v)",
        "@Microsoft.KeyVault(VaultName=myvault)",
        "@Microsoft.KeyVault(SecretName=x)",
        "@Microsoft.KeyVault(VaultName=my_vault;SecretName=x)",
        "@Microsoft.KeyVault(VaultName=ab;SecretName=x)",
        "@Microsoft.KeyVault(VaultName=my--vault;SecretName=x)",
        "@Microsoft.KeyVault(VaultName=myvault;SecretName=x;SecretName=y)",
        "@Microsoft.KeyVault(VaultName=myvault;SecretName=x;Colour=blue)",
        "@Microsoft.KeyVault(VaultName=myvault;SecretName=x;SecretVersion=not-hex!)",
        "@Microsoft.KeyVault(VaultName=myvault;SecretName)",
    ],
)
def test_malformed_references_are_errors_not_values(text):
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, KeyVaultError)


def test_resolve_passes_other_strings_through_without_a_vault_or_a_request(azure_emulator):
    secrets = KeyVaultSecrets()  # no vault, no provider: nothing to read
    for value in ["", "plain", "postgres://db/app", "Microsoft.KeyVault(SecretUri=x)"]:
        assert secrets.resolve(value) == value
    assert secrets.resolve_all({"a": ["x", 1, None], "b": ("y",)}) == {"a": ["x", 1, None], "b": ("y",)}
    assert azure_emulator.counters["keyvault"] == 0


def test_a_malformed_reference_is_refused_before_any_request(azure_emulator, azure_emulator_env):
    secrets = secrets_for(azure_emulator)
    with pytest.raises(InvalidReferenceError):
        secrets.resolve("@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/bad_name)")
    assert azure_emulator.counters["keyvault"] == 0


# --- against the emulator -------------------------------------------------------------------------------


def test_secret_uri_references_latest_and_pinned(azure_emulator, azure_emulator_env):
    vault, name = azure_emulator.vault, unique()
    first = vault.set_secret(name, "one")
    vault.set_secret(name, "two")
    secrets = secrets_for(azure_emulator)
    assert secrets.resolve(secret_uri(vault, name)) == "two"
    assert secrets.resolve(secret_uri(vault, name).replace(")", "/)")) == "two"
    assert secrets.resolve(secret_uri(vault, name, first.version)) == "one"
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2  # the trailing slash is the same secret


def test_vault_name_references(azure_emulator, azure_emulator_env, monkeypatch):
    resolve_localhost_subdomains(monkeypatch)
    vault, name = azure_emulator.vault, unique()
    first = vault.set_secret(name, "one")
    vault.set_secret(name, "two")
    secrets = KeyVaultSecrets(
        provider=provider(),
        vault_suffix=f"localhost:{vault_port(vault)}",
        client_options={"transport": localhost_certificate_transport()},
    )
    assert secrets.resolve(f"@Microsoft.KeyVault(VaultName={vault.name};SecretName={name})") == "two"
    pinned = f"@Microsoft.KeyVault(VaultName={vault.name};SecretName={name};SecretVersion={first.version})"
    assert secrets.resolve(pinned) == "one"
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2


def test_resolve_all_resolves_nested_settings_concurrently_into_a_copy(azure_emulator, azure_emulator_env):
    vault = azure_emulator.vault
    names = [unique("db") for _ in range(4)]
    for number, name in enumerate(names):
        vault.set_secret(name, f"value-{number}")
    point = collections.namedtuple("point", "user password")
    databases = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "PASSWORD": secret_uri(vault, names[0]),
            "PORT": 5432,
            "OPTIONS": {"sslmode": "require", "passfile": None, "hosts": [secret_uri(vault, names[1]), "db2"]},
        },
        "replica": collections.OrderedDict(PASSWORD=secret_uri(vault, names[0]), PAIR=(secret_uri(vault, names[2]), 1)),
        "other": point("app", secret_uri(vault, names[3])),
    }
    secrets = secrets_for(azure_emulator)
    resolved = secrets.resolve_all(databases)
    assert resolved["default"]["PASSWORD"] == "value-0"
    assert resolved["default"]["PORT"] == 5432
    assert resolved["default"]["OPTIONS"] == {"sslmode": "require", "passfile": None, "hosts": ["value-1", "db2"]}
    assert isinstance(resolved["replica"], collections.OrderedDict)
    assert resolved["replica"] == {"PASSWORD": "value-0", "PAIR": ("value-2", 1)}
    assert resolved["other"] == point("app", "value-3")
    assert databases["default"]["PASSWORD"].startswith("@Microsoft.KeyVault(")  # the input is left alone
    assert azure_emulator.counters["keyvault.local.get_secret"] == 4  # one read per distinct secret


def test_a_foreign_host_is_refused_with_no_request_and_no_token(azure_emulator, azure_emulator_env):
    foreign = azure_emulator.add_vault(unique("foreign")[:20])  # same host, another port: another server
    foreign.set_secret("stolen", "x")
    secrets = secrets_for(azure_emulator)
    with pytest.raises(VaultNotAllowedError) as caught:
        secrets.resolve(secret_uri(foreign, "stolen"))
    assert caught.value.vault_url == foreign.url
    assert caught.value.secret_name == "stolen"
    with pytest.raises(VaultNotAllowedError):  # one bad reference stops the whole batch before any request
        secrets.resolve_all({"ok": secret_uri(azure_emulator.vault, unique()), "bad": secret_uri(foreign, "stolen")})
    with pytest.raises(VaultNotAllowedError):
        secrets.resolve("@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/stolen)")
    assert azure_emulator.counters[f"keyvault.{foreign.name}"] == 0
    assert azure_emulator.counters["keyvault"] == 0
    assert azure_emulator.counters["mi"] == 0  # not even a token was asked for


def test_a_host_the_app_adds_is_allowed(azure_emulator, azure_emulator_env):
    other = azure_emulator.add_vault(unique("other")[:20])
    other.set_secret("shared", "from-other")
    secrets = secrets_for(azure_emulator, allowed_hosts=[other.url])
    assert secrets.resolve(secret_uri(other, "shared")) == "from-other"
