"""Settings-time references: the one walk over nested settings (which containers it reads, what it copies and
which types it keeps), the one concurrent resolver (``resolve_each``) the adapters' start-up resolution and
diagnostics share, with every vault checked before any request, and the setting a ``KeyVaultSecrets``
construction error names (``.setting``), so that nothing has to guess it from the values."""

from __future__ import annotations

import collections
from types import MappingProxyType
from typing import Any

import pytest

from appauth_core import KeyVaultConfigurationError, KeyVaultSecrets, ReferenceResolutionError
from appauth_core.errors import InvalidReferenceError, SecretNotFoundError, VaultNotAllowedError
from appauth_core.keyvault import find_references, replace_references, resolve_each
from appauth_core.testing import AzureEmulator
from appauth_core.web import AppAuthConfig, AppAuthServices, unreadable_references

from .secrets_support import secret_uri, secrets_for, unique

GET = "keyvault.local.get_secret"
REF = "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/{})"


class LazyProxy:
    """Stands in for a lazy object (Django's ``LazyObject``): asking for its ``__class__``, as ``isinstance``
    does, would set it up."""

    def __init__(self) -> None:
        self.set_up = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        self.set_up = True
        return dict


# --- the walk -----------------------------------------------------------------------------------------------


def test_the_walk_reads_every_mapping_list_and_tuple_in_order():
    point = collections.namedtuple("point", "user password")
    settings = {
        "A": REF.format("a"),
        "B": MappingProxyType({"x": [1, REF.format("b")]}),
        "C": (point("app", REF.format("c")), "plain"),
        "D": collections.OrderedDict(inner={"deep": (REF.format("d"),)}),
    }
    assert list(find_references(settings)) == [
        (("A",), REF.format("a")),
        (("B", "x", 1), REF.format("b")),
        (("C", 0, 1), REF.format("c")),
        (("D", "inner", "deep", 0), REF.format("d")),
    ]


def test_the_walk_does_not_set_up_a_lazy_object_by_looking_at_it():
    lazy = LazyProxy()
    assert list(find_references({"STORAGE": lazy, "KEY": REF.format("k")})) == [(("KEY",), REF.format("k"))]
    assert replace_references({"STORAGE": lazy, "KEY": "x"}, {("KEY",): "v"})["STORAGE"] is lazy
    assert lazy.set_up is False


def test_values_are_put_in_place_in_copies_that_keep_their_types():
    point = collections.namedtuple("point", "user password")
    counts = collections.defaultdict(int, {"hosts": [REF.format("h"), "db2"]})
    settings: dict[str, Any] = {
        "ordered": collections.OrderedDict(PASSWORD=REF.format("p"), USER="app"),
        "counts": counts,
        "pair": point("app", REF.format("q")),
        "frozen": MappingProxyType({"k": REF.format("k")}),
        "untouched": {"ENGINE": "postgresql"},
    }
    values = {path: f"value of {text}" for path, text in find_references(settings)}
    replaced = replace_references(settings, values)

    assert type(replaced["ordered"]) is collections.OrderedDict
    assert list(replaced["ordered"].items()) == [("PASSWORD", f"value of {REF.format('p')}"), ("USER", "app")]
    assert type(replaced["counts"]) is collections.defaultdict and replaced["counts"].default_factory is int
    assert replaced["counts"]["hosts"] == [f"value of {REF.format('h')}", "db2"]
    assert replaced["pair"] == point("app", f"value of {REF.format('q')}") and type(replaced["pair"]) is point
    assert replaced["frozen"] == {"k": f"value of {REF.format('k')}"}  # a proxy cannot be copied: a dict
    assert replaced["untouched"] is settings["untouched"]  # nothing on the way to a value: shared
    assert settings["ordered"]["PASSWORD"] == REF.format("p")  # the input is left as it is
    assert counts["hosts"][0] == REF.format("h")
    assert replace_references(settings, {}) is settings
    assert replace_references(REF.format("x"), {(): "value"}) == "value"


# --- the one resolver ---------------------------------------------------------------------------------------


def test_resolve_each_reads_every_reference_once_and_answers_each(azure_emulator, azure_emulator_env):
    names = [unique("each") for _ in range(3)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"value of {name}")
    missing = secret_uri(azure_emulator.vault, unique("missing"))
    malformed = "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/bad_name)"
    foreign = "@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/stolen)"
    references = [secret_uri(azure_emulator.vault, name) for name in names]
    outcomes = resolve_each(secrets_for(azure_emulator), [*references, references[0], missing, malformed, foreign])

    assert list(outcomes) == [*references, missing, malformed, foreign]  # each once, in order
    assert [outcomes[text].value for text in references] == [f"value of {name}" for name in names]  # type: ignore[union-attr]
    assert all("value of" not in repr(outcome) for outcome in outcomes.values())  # hidden until unwrapped
    assert isinstance(outcomes[missing], SecretNotFoundError)
    assert isinstance(outcomes[malformed], InvalidReferenceError)
    assert isinstance(outcomes[foreign], VaultNotAllowedError)
    assert azure_emulator.counters[GET] == 4  # three secrets and the missing one; nothing for the others


def test_all_or_nothing_reads_nothing_when_one_reference_is_refused(azure_emulator, azure_emulator_env):
    name = unique("kept")
    azure_emulator.vault.set_secret(name, "value")
    good = secret_uri(azure_emulator.vault, name)
    foreign = "@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/stolen)"
    outcomes = resolve_each(secrets_for(azure_emulator), [good, foreign], all_or_nothing=True)
    assert list(outcomes) == [foreign] and isinstance(outcomes[foreign], VaultNotAllowedError)
    assert azure_emulator.counters["keyvault"] == 0
    assert azure_emulator.counters["mi"] == 0  # not even a token was asked for


def _services(emulator: AzureEmulator) -> AppAuthServices:
    return AppAuthServices(AppAuthConfig(key_vault_url=emulator.vault.url), spell="APPAUTH['{}']")


def test_start_up_resolution_checks_every_vault_before_reading_any(azure_emulator, azure_emulator_env):
    name = unique("startup")
    azure_emulator.vault.set_secret(name, "value")
    settings = {
        "DATABASES": {"default": {"PASSWORD": secret_uri(azure_emulator.vault, name)}},
        "API_KEY": "@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/stolen)",
    }
    services = _services(azure_emulator)
    with pytest.raises(ReferenceResolutionError) as caught:
        services.resolve_references(settings, spell=lambda path: "/".join(map(str, path)))
    assert caught.value.setting == "API_KEY"
    assert "VaultNotAllowedError" in caught.value.reason and "APPAUTH['ALLOWED_VAULT_HOSTS']" in caught.value.reason
    assert azure_emulator.counters["keyvault"] == 0 and azure_emulator.counters["mi"] == 0

    del settings["API_KEY"]
    resolved = services.resolve_references(settings, spell=str)
    assert resolved == {("DATABASES", "default", "PASSWORD"): "value"}


def test_diagnostics_name_every_setting_that_cannot_be_read(azure_emulator, azure_emulator_env):
    name = unique("diagnosed")
    azure_emulator.vault.set_secret(name, "value")
    missing = secret_uri(azure_emulator.vault, unique("missing"))
    references = {
        "GOOD": secret_uri(azure_emulator.vault, name),
        "MISSING": missing,
        "ALSO_MISSING": missing,
        "FOREIGN": "@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/stolen)",
    }
    reasons = unreadable_references(_services(azure_emulator), references)
    assert list(reasons) == ["MISSING", "ALSO_MISSING", "FOREIGN"]
    assert reasons["MISSING"].startswith("SecretNotFoundError: ") and reasons["ALSO_MISSING"] == reasons["MISSING"]
    assert reasons["FOREIGN"].startswith("VaultNotAllowedError: ")
    assert azure_emulator.counters[GET] == 2  # the good one and the missing one, once


# --- the setting an error names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "key", "argument"),
    [
        ({"vault_url": "http://myvault.vault.azure.net/"}, "KEY_VAULT_URL", "vault_url"),
        ({"allowed_hosts": ["https://kv.example/path"]}, "ALLOWED_VAULT_HOSTS", "allowed_hosts"),
        ({"key_vault_resource": "http://vault.example"}, "KEY_VAULT_RESOURCE", "key_vault_resource"),
        ({"cache_seconds": -1}, "SECRET_CACHE_SECONDS", "cache_seconds"),
        ({"shared_cache": object(), "encryption_key": "not-a-fernet-key"}, "CACHE_ENCRYPTION_KEY", "encryption_key"),
        ({"shared_cache": object()}, "CACHE_ENCRYPTION_KEY", "encryption_key"),
        (
            {
                "shared_cache": object(),
                "encryption_key": "@Microsoft.KeyVault(SecretUri=https://evil.example/secrets/k)",
            },
            "CACHE_ENCRYPTION_KEY",
            "encryption_key",
        ),
    ],
)
def test_a_construction_error_names_the_setting_at_fault(arguments, key, argument):
    with pytest.raises(KeyVaultConfigurationError if "evil" not in str(arguments) else VaultNotAllowedError) as plain:
        KeyVaultSecrets(**arguments)
    assert plain.value.setting == f"KeyVaultSecrets({argument}=...)"
    with pytest.raises(type(plain.value)) as django:
        KeyVaultSecrets(**arguments, spell="APPAUTH['{}']")
    assert django.value.setting == f"APPAUTH['{key}']"
