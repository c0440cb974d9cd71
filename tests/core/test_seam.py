"""The helpers both adapters share (appauth_core.web._seam)."""

from __future__ import annotations

from collections import OrderedDict

from appauth_core.web import changed_settings, spell_path


def test_a_settings_path_is_spelled_as_the_user_writes_it() -> None:
    assert spell_path(("DATABASES", "default", "PASSWORD")) == "DATABASES['default']['PASSWORD']"
    assert spell_path(("HOSTS", 0)) == "HOSTS[0]"
    assert spell_path(("SECRET_KEY",)) == "SECRET_KEY"


def test_only_the_settings_holding_a_resolved_reference_change_and_nothing_is_mutated() -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/db)"
    databases = OrderedDict(default={"PASSWORD": reference, "HOST": "db"})
    current = {"DATABASES": databases, "HOSTS": ["a", reference], "DEBUG": False}
    changed = changed_settings(current, {("DATABASES", "default", "PASSWORD"): "s1", ("HOSTS", 1): "s2"})
    assert changed == {"DATABASES": {"default": {"PASSWORD": "s1", "HOST": "db"}}, "HOSTS": ["a", "s2"]}
    assert type(changed["DATABASES"]) is OrderedDict  # the container's type is kept
    assert databases["default"]["PASSWORD"] == reference  # the settings' own dicts are not touched
