"""The Key Vault scope guard: which scopes a Key Vault client's credential passes on, which it refuses (and
how), and the configured resource. The real SecretClient against hostile challenges is in
tests/hardening/test_security_vault_scope.py."""

from __future__ import annotations

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo

from appauth_core import KeyVaultConfigurationError, KeyVaultSecrets, VaultResourceNotAllowedError
from appauth_core.tokens._vault_scope import KEY_VAULT_RESOURCES, KeyVaultScopedCredential, key_vault_resource
from appauth_core.tokens.sources._key_vault_certificate import KeyVaultCertificateSource

VAULT_URL = "https://myvault.vault.azure.net/"


class CountingCredential:
    """An azure-core TokenCredential (get_token only) that records what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[tuple[str, ...], dict[str, object]]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.asked.append((scopes, kwargs))
        return AccessToken("token", 1_900_000_000)


class InfoCredential(CountingCredential):
    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        self.asked.append((scopes, {"options": options}))
        return AccessTokenInfo("info-token", 1_900_000_000)


def guard(inner: object, configured: str | None = None) -> KeyVaultScopedCredential:
    return KeyVaultScopedCredential(inner, vault_url=VAULT_URL, configured=configured, how_to_allow="set X")


def test_the_resources_are_every_clouds_key_vault():
    assert KEY_VAULT_RESOURCES == (
        "https://vault.azure.net",
        "https://vault.azure.cn",
        "https://vault.usgovcloudapi.net",
        "https://vault.microsoftazure.de",
    )


@pytest.mark.parametrize(
    "scope",
    [
        "https://vault.azure.net/.default",
        "https://vault.azure.net",
        "https://vault.azure.net/",
        "https://vault.azure.net//.default",  # a challenge with resource="https://vault.azure.net/"
        "HTTPS://Vault.Azure.Net/.default",
        "https://vault.azure.cn/.default",
        "https://vault.usgovcloudapi.net/.default",
        "https://vault.microsoftazure.de/.default",
    ],
)
def test_key_vault_scopes_are_passed_on_as_they_are(scope):
    inner = CountingCredential()
    assert guard(inner).get_token(scope, tenant_id="t", enable_cae=True).token == "token"
    assert inner.asked == [((scope,), {"claims": None, "tenant_id": "t", "enable_cae": True})]


@pytest.mark.parametrize(
    "scope",
    [
        "https://management.azure.com/.default",
        "https://vault.azure.net.evil.example/.default",
        "https://evil.vault.azure.net/.default",
        "https://vault.azure.net:443/.default",
        "https://vault.azure.net/x/.default",
        "https://vault.azure.net/user_impersonation",
        "http://vault.azure.net/.default",
        "https://managedhsm.azure.net/.default",
        "https://vault.azure.net/.default https://management.azure.com/.default",
        "",
    ],
)
def test_any_other_scope_is_refused_before_the_credential_is_asked(scope):
    inner = InfoCredential()
    for ask in (lambda: guard(inner).get_token(scope), lambda: guard(inner).get_token_info(scope)):
        with pytest.raises(VaultResourceNotAllowedError) as caught:
            ask()
        assert caught.value.vault_url == VAULT_URL
        assert caught.value.challenge_resource == scope.removesuffix("/.default")
        assert "no token was requested" in str(caught.value) and "set X" in str(caught.value)
    assert inner.asked == []


def test_one_bad_scope_among_good_ones_refuses_them_all():
    inner = CountingCredential()
    with pytest.raises(VaultResourceNotAllowedError):
        guard(inner).get_token("https://vault.azure.net/.default", "https://graph.microsoft.com/.default")
    with pytest.raises(VaultResourceNotAllowedError):
        guard(inner).get_token()
    assert inner.asked == []


def test_the_servers_text_is_quoted_escaped_and_shortened():
    with pytest.raises(VaultResourceNotAllowedError) as caught:
        guard(CountingCredential()).get_token("https://evil.example\r\nX-Injected: 1")
    assert "\r\n" not in str(caught.value)  # one log line stays one line
    with pytest.raises(VaultResourceNotAllowedError) as caught:
        guard(CountingCredential()).get_token("https://evil.example/" + "a" * 5000)
    assert caught.value.challenge_resource is not None and len(caught.value.challenge_resource) < 210
    assert len(str(caught.value)) < 1000


def test_the_configured_resource_is_accepted_too():
    inner = CountingCredential()
    scoped = guard(inner, configured=key_vault_resource("HTTPS://Vault.Local.AzureStack.External/"))
    scoped.get_token("https://vault.local.azurestack.external/.default")
    with pytest.raises(VaultResourceNotAllowedError, match=r"vault\.local\.azurestack\.external only"):
        scoped.get_token("https://management.local.azurestack.external/.default")
    assert len(inner.asked) == 1


def test_get_token_info_uses_the_credentials_own_or_adapts_get_token():
    info = InfoCredential()
    assert guard(info).get_token_info("https://vault.azure.net/.default").token == "info-token"
    plain = CountingCredential()
    options = {"tenant_id": "t", "enable_cae": True, "claims": None}
    adapted = guard(plain).get_token_info("https://vault.azure.net/.default", options=options)
    assert (adapted.token, adapted.expires_on) == ("token", 1_900_000_000)
    assert plain.asked == [
        (("https://vault.azure.net/.default",), {"claims": None, "tenant_id": "t", "enable_cae": True})
    ]


@pytest.mark.parametrize(
    "value", ["http://vault.example", "https://vault.example/path", "https://u:p@vault.example", "vault", 42]
)
def test_a_configured_resource_must_be_an_https_origin(value):
    with pytest.raises(KeyVaultConfigurationError, match="key_vault_resource"):
        KeyVaultSecrets(VAULT_URL, key_vault_resource=value)
    with pytest.raises(ValueError, match="key_vault_resource"):
        KeyVaultCertificateSource(
            "app", f"{VAULT_URL}secrets/cert", vault_token_source=object(), key_vault_resource=value
        )  # type: ignore[arg-type]


def test_get_token_asks_a_credential_with_get_token_info_through_it_with_the_options_given():
    inner = InfoCredential()
    token = guard(inner).get_token("https://vault.azure.net/.default", tenant_id="t", enable_cae=True)
    assert (token.token, token.expires_on) == ("info-token", 1_900_000_000)
    guard(inner).get_token("https://vault.azure.net/.default", claims='{"access_token": {}}')
    assert inner.asked == [
        (("https://vault.azure.net/.default",), {"options": {"tenant_id": "t", "enable_cae": True}}),
        (("https://vault.azure.net/.default",), {"options": {"claims": '{"access_token": {}}'}}),
    ]
