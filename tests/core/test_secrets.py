"""KeyVaultSecrets end to end against the emulator's vault: caching, pinned versions, rotation after the TTL,
stale-if-error during an outage, 429 + Retry-After, typed errors, names checked before any request,
concurrent reads, async, and no secret value in any error, repr or log line. TTLs run on a test clock."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from azure.keyvault.secrets import SecretClient

from appauth_core import (
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    InvalidSecretNameError,
    KeyVaultConfigurationError,
    KeyVaultError,
    KeyVaultSecrets,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretDisabledError,
    SecretNotFoundError,
)
from appauth_core.keyvault._secrets import JITTER
from appauth_core.tokens._cache import TokenCache

from .secrets_support import Clock, canary, secret_uri, secrets_for, unique

GET = "keyvault.local.get_secret"
NO_RETRIES = {"retry_total": 0}  # outage tests look at our own retry layer, without azure-core's sleeps
THROTTLED = {"error": {"code": "Throttled", "message": "Request was not processed: too many requests."}}
UNAVAILABLE = {"error": {"code": "ServiceUnavailable", "message": "The service is unavailable."}}


def test_one_hundred_reads_cost_one_request(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    secrets = secrets_for(azure_emulator)
    assert [secrets.get(name) for _ in range(100)] == ["value"] * 100
    assert azure_emulator.counters[GET] == 1


def test_names_are_case_insensitive_like_key_vault(azure_emulator, azure_emulator_env):
    name = unique("Mixed")
    azure_emulator.vault.set_secret(name, "value")
    secrets = secrets_for(azure_emulator)
    assert secrets.get(name) == secrets.get(name.lower()) == secrets.get(name.upper()) == "value"
    assert azure_emulator.counters[GET] == 1


def test_32_cold_threads_cause_one_request(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(GET, delay=0.3)  # keep the one request in flight while the others pile up
    secrets = secrets_for(azure_emulator)
    barrier = threading.Barrier(32)
    values: list[str] = []

    def read() -> None:
        barrier.wait(10)
        values.append(secrets.get(name))

    threads = [threading.Thread(target=read) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert values == ["value"] * 32
    assert azure_emulator.counters[GET] == 1


def test_rotation_is_seen_after_the_ttl_without_a_restart(azure_emulator, azure_emulator_env):
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "old")
    secrets = secrets_for(azure_emulator, cache_seconds=300, clock=clock)
    assert secrets.get(name) == "old"
    azure_emulator.vault.set_secret(name, "new")
    clock.advance(300 * (1 - JITTER) - 1)
    assert secrets.get(name) == "old"  # still inside every possible jittered TTL
    clock.advance(JITTER * 300 + 1)
    assert secrets.get(name) == "new"
    assert azure_emulator.counters[GET] == 2


def test_jitter_spreads_refreshes_within_the_ttl(azure_emulator, azure_emulator_env):
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "old")
    early = secrets_for(azure_emulator, cache_seconds=100, clock=clock, rng=lambda: 1.0)
    late = secrets_for(azure_emulator, cache_seconds=100, clock=clock, rng=lambda: 0.0)
    early.get(name), late.get(name)
    azure_emulator.vault.set_secret(name, "new")
    clock.advance(100 * (1 - JITTER))
    assert (early.get(name), late.get(name)) == ("new", "old")
    clock.advance(100 * JITTER)
    assert late.get(name) == "new"


def test_pinned_versions_never_expire(azure_emulator, azure_emulator_env):
    clock, name = Clock(), unique()
    first = azure_emulator.vault.set_secret(name, "one")
    azure_emulator.vault.set_secret(name, "two")
    secrets = secrets_for(azure_emulator, cache_seconds=1, clock=clock)
    assert secrets.get(name, first.version) == "one"
    assert secrets.get(name) == "two"
    clock.advance(10 * 365 * 86400)
    secrets.refresh()  # re-reads latest versions only: a pinned version cannot change
    assert secrets.get(name, first.version) == "one"
    assert azure_emulator.counters[GET] == 3


def test_refresh_forces_a_re_read(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "old")
    secrets = secrets_for(azure_emulator)
    assert secrets.get(name) == "old"
    azure_emulator.vault.set_secret(name, "new")
    secrets.refresh(name)
    assert secrets.get(name) == "new"
    azure_emulator.vault.set_secret(name, "newer")
    secrets.refresh(secret_uri(azure_emulator.vault, name))  # a reference names the same secret
    assert secrets.get(name) == "newer"
    azure_emulator.vault.set_secret(name, "newest")
    secrets.refresh()
    assert secrets.get(name) == "newest"
    assert azure_emulator.counters[GET] == 4


def test_stale_if_error_during_an_outage(azure_emulator, azure_emulator_env, caplog):
    clock, name, value = Clock(), unique(), canary()
    azure_emulator.vault.set_secret(name, value)
    secrets = secrets_for(azure_emulator, clock=clock, stale_seconds=600, client_options=NO_RETRIES)
    assert secrets.get(name) == value
    azure_emulator.faults.inject(GET, status=503, body=UNAVAILABLE, times=100)
    clock.advance(300)
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        assert [secrets.get(name) for _ in range(20)] == [value] * 20
    assert azure_emulator.counters[GET] == 2  # one failed re-read; then backoff, not one request per call
    assert name in caplog.text and "503" in caplog.text
    assert value not in caplog.text
    clock.advance(600)
    with pytest.raises(KeyVaultUnavailableError) as caught:  # served for a bounded time only
        secrets.get(name)
    assert caught.value.status == 503 and caught.value.secret_name == name
    assert value not in str(caught.value)
    azure_emulator.faults.clear()
    clock.advance(60)
    assert secrets.get(name) == value


def test_a_never_read_secret_raises_during_an_outage(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(GET, status=500, body=UNAVAILABLE)
    secrets = secrets_for(azure_emulator, client_options=NO_RETRIES)
    with pytest.raises(KeyVaultUnavailableError) as caught:
        secrets.get(name)
    assert (caught.value.vault_url, caught.value.secret_name, caught.value.status) == (
        azure_emulator.vault.url,
        name,
        500,
    )


def test_a_short_retry_after_is_waited_inside_the_call(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(GET, status=429, body=THROTTLED, headers={"Retry-After": "1"})
    secrets = secrets_for(azure_emulator)  # the default retry policy
    assert secrets.get(name) == "value"
    assert azure_emulator.counters[GET] == 2


def test_a_long_retry_after_is_honoured_between_calls_without_blocking(azure_emulator, azure_emulator_env):
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(GET, status=429, body=THROTTLED, headers={"Retry-After": "120"})
    secrets = secrets_for(azure_emulator, clock=clock)  # the default retry policy: it must not sleep 120 s
    with pytest.raises(KeyVaultUnavailableError) as caught:
        secrets.get(name)
    assert (caught.value.status, caught.value.retry_after) == (429, 120)
    with pytest.raises(KeyVaultUnavailableError):
        secrets.get(name)
    assert azure_emulator.counters[GET] == 1  # the server said 120 s: nobody asks before then
    clock.advance(120)
    assert secrets.get(name) == "value"
    assert azure_emulator.counters[GET] == 2


def test_retry_after_while_serving_a_stale_value(azure_emulator, azure_emulator_env):
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "old")
    secrets = secrets_for(azure_emulator, clock=clock)
    secrets.get(name)
    azure_emulator.vault.set_secret(name, "new")
    azure_emulator.faults.inject(GET, status=429, body=THROTTLED, headers={"Retry-After": "90"})
    clock.advance(300)
    assert secrets.get(name) == "old"
    clock.advance(89)
    assert secrets.get(name) == "old"
    assert azure_emulator.counters[GET] == 2
    clock.advance(1)
    assert secrets.get(name) == "new"


def test_not_found(azure_emulator, azure_emulator_env):
    secrets, name = secrets_for(azure_emulator), unique("missing")
    with pytest.raises(SecretNotFoundError) as caught:
        secrets.get(name)
    error = caught.value
    assert (error.vault_url, error.secret_name, error.status) == (azure_emulator.vault.url, name, 404)
    assert name in str(error) and azure_emulator.vault.url in str(error)
    version = azure_emulator.vault.set_secret(name, "x").version
    with pytest.raises(SecretNotFoundError):
        secrets.get(name, version.replace(version[0], "0" if version[0] != "0" else "1"))


def test_access_denied(azure_emulator, azure_emulator_env):
    app = azure_emulator.register_app(secret="denied-app-secret", vault_permissions=frozenset({"list"}))
    provider = AzureServiceTokenProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey=denied-app-secret",
        azure_emulator.authority,
        cache=TokenCache(),
    )
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    with pytest.raises(SecretAccessDeniedError) as caught:
        KeyVaultSecrets(azure_emulator.vault.url, provider).get(name)
    assert caught.value.status == 403 and caught.value.secret_name == name
    assert "get permission" in str(caught.value)


def test_revoked_access_drops_the_cached_value(azure_emulator, azure_emulator_env):
    app = azure_emulator.register_app(secret="revoked-app-secret")
    provider = AzureServiceTokenProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey=revoked-app-secret",
        azure_emulator.authority,
        cache=TokenCache(),
    )
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "value")
    secrets = KeyVaultSecrets(azure_emulator.vault.url, provider, clock=clock)
    assert secrets.get(name) == "value"
    azure_emulator.vault.revoke(app.object_id)
    clock.advance(300)
    with pytest.raises(SecretAccessDeniedError):  # Key Vault's "no" is not an outage: it is not served around
        secrets.get(name)


def test_disabled(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value", enabled=False)
    with pytest.raises(SecretDisabledError) as caught:
        secrets_for(azure_emulator).get(name)
    assert caught.value.secret_name == name


def test_a_token_failure_surfaces_as_the_providers_error(azure_emulator, azure_emulator_env):
    provider = AzureServiceTokenProvider(
        f"RunAs=App;AppId={azure_emulator.app.app_id};TenantId={azure_emulator.tenant_id};AppKey=wrong-key",
        azure_emulator.authority,
        cache=TokenCache(),
    )
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        KeyVaultSecrets(azure_emulator.vault.url, provider).get(name)
    assert not isinstance(caught.value, KeyVaultError)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("bad_name", None),
        ("", None),
        ("a" * 128, None),
        ("a/b", None),
        ("..", None),
        ("ok", "not-a-version!"),
        (None, None),
    ],
)
def test_invalid_names_are_refused_before_any_request(azure_emulator, azure_emulator_env, name, version):
    secrets = secrets_for(azure_emulator)
    with pytest.raises(InvalidSecretNameError) as caught:
        secrets.get(name, version)
    assert isinstance(caught.value, ValueError)
    if version is None:
        with pytest.raises(InvalidSecretNameError):  # checked for every name before the first request
            secrets.get_many(["fine", name])
    assert azure_emulator.counters["keyvault"] == 0
    assert azure_emulator.counters["mi"] == 0


def test_the_longest_valid_name_is_accepted(azure_emulator, azure_emulator_env):
    name = "a-" + unique()[2:] + "z" * 100
    name = name[:127]
    azure_emulator.vault.set_secret(name, "value")
    assert secrets_for(azure_emulator).get(name) == "value"


def test_get_many_reads_50_secrets_in_one_round_trip(azure_emulator, azure_emulator_env, monkeypatch):
    names = [unique("many") for _ in range(50)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"{name}-value")
    secrets = secrets_for(azure_emulator)
    secrets.get(names[0])  # one already cached: not read again
    real_get_secret = SecretClient.get_secret
    together = threading.Barrier(49, timeout=20)  # breaks unless all 49 reads are in flight at once
    lock, calls = threading.Lock(), []

    def get_secret(self, name, version=None, **kwargs):
        with lock:
            calls.append(name)
        together.wait()
        return real_get_secret(self, name, version, **kwargs)

    monkeypatch.setattr(SecretClient, "get_secret", get_secret)
    values = secrets.get_many([*names, names[1]])
    assert values == {name: f"{name}-value" for name in names}
    assert not together.broken
    assert len(calls) == 49
    assert secrets.get_many(names) == values
    assert azure_emulator.counters[GET] == 50


def test_get_many_raises_the_first_failure_after_reading_the_rest(azure_emulator, azure_emulator_env):
    good, missing = unique(), unique("missing")
    azure_emulator.vault.set_secret(good, "value")
    secrets = secrets_for(azure_emulator)
    with pytest.raises(SecretNotFoundError) as caught:
        secrets.get_many([missing, good])
    assert caught.value.secret_name == missing
    assert secrets.get(good) == "value"
    assert azure_emulator.counters[GET] == 2


def test_get_many_names_every_failure_in_one_error(azure_emulator, azure_emulator_env):
    good, missing, also_missing = unique(), unique("missing"), unique("missing")
    azure_emulator.vault.set_secret(good, "value")
    secrets = secrets_for(azure_emulator)
    with pytest.raises(SecretNotFoundError) as caught:
        secrets.get_many([good, missing, also_missing])
    assert caught.value.secret_name == missing  # the first, in the caller's order, as its own type
    assert caught.value.__notes__ == [
        f"1 more of the 3 secrets read together failed: '{also_missing}' (SecretNotFoundError)"
    ]
    with pytest.raises(SecretNotFoundError) as again:
        secrets.get(missing)
    assert not getattr(again.value, "__notes__", None)  # the note went on a copy, not on a shared error


def test_get_many_async_and_resolve_async(azure_emulator, azure_emulator_env, monkeypatch):
    names = [unique() for _ in range(3)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"v-{name}")
    secrets = secrets_for(azure_emulator)
    reference = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/{names[0]})"
    assert asyncio.run(secrets.get_many_async(names)) == {name: f"v-{name}" for name in names}
    assert asyncio.run(secrets.resolve_async(reference)) == f"v-{names[0]}"
    assert asyncio.run(secrets.resolve_async("plain text")) == "plain text"
    reads = azure_emulator.counters[GET]

    def no_thread(*args, **kwargs):
        raise AssertionError("a cached value must be answered on the loop")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    for name in names:
        secrets.get(name)  # remembered as known names
    assert asyncio.run(secrets.get_many_async(names)) == {name: f"v-{name}" for name in names}
    assert azure_emulator.counters[GET] == reads


def test_get_async(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    secrets = secrets_for(azure_emulator)

    async def many() -> list[str]:
        return await asyncio.gather(*(secrets.get_async(name) for _ in range(20)))

    assert asyncio.run(many()) == ["value"] * 20
    assert asyncio.run(many()) == ["value"] * 20  # from the cache, on the loop
    assert azure_emulator.counters[GET] == 1


def test_describe_shows_everything_but_the_value(azure_emulator, azure_emulator_env):
    name, value = unique(), canary()
    version = azure_emulator.vault.set_secret(name, value, content_type="text/plain", tags={"team": "web"})
    secrets = secrets_for(azure_emulator)
    metadata = secrets.describe(name)
    assert (metadata.name, metadata.vault_url, metadata.version) == (name, azure_emulator.vault.url, version.version)
    assert (metadata.content_type, metadata.enabled, dict(metadata.tags)) == ("text/plain", True, {"team": "web"})
    assert metadata.created_on is not None and metadata.updated_on is not None
    assert value not in repr(metadata) and value not in str(metadata)
    assert secrets.get(name) == value
    assert azure_emulator.counters[GET] == 1  # describe and get share one read


def test_no_value_in_reprs_errors_or_logs(azure_emulator, azure_emulator_env, caplog):
    clock, name, value = Clock(), unique(), canary()
    azure_emulator.vault.set_secret(name, value)
    secrets = secrets_for(azure_emulator, clock=clock, client_options=NO_RETRIES)
    with caplog.at_level(logging.DEBUG):
        assert secrets.get(name) == value
        clock.advance(300)
        azure_emulator.faults.inject(GET, status=503, body=UNAVAILABLE)
        assert secrets.get(name) == value
        entries = list(secrets._cache._entries.values())  # for their reprs only
    shown = " ".join([repr(secrets), *map(repr, entries), *map(str, entries), caplog.text])
    assert value not in shown


def test_configuration_errors(azure_emulator, azure_emulator_env):
    with pytest.raises(KeyVaultConfigurationError):
        KeyVaultSecrets("http://myvault.vault.azure.net/")
    with pytest.raises(KeyVaultConfigurationError):
        KeyVaultSecrets("https://myvault.vault.azure.net/", cache_seconds=-1)
    with pytest.raises(KeyVaultConfigurationError):
        KeyVaultSecrets("https://myvault.vault.azure.net/", allowed_hosts=["http://plain.example"])
    with pytest.raises(KeyVaultConfigurationError, match="vault_url"):
        KeyVaultSecrets().get("name")  # no default vault: only references can be read


def test_close_releases_connections_and_a_context_manager_closes(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    with secrets_for(azure_emulator) as secrets:
        assert secrets.get(name) == "value"
    secrets.close()  # twice is fine
