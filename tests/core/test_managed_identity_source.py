"""ManagedIdentitySource against the emulator's managed-identity hosts (each in its own dialect).

Every test passes ``environ`` explicitly, so nothing here can fall back to the real IMDS address; back-off
waits go through the source's ``_sleep`` seam and are recorded instead of slept.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from appauth_core.errors import AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.testing import AzureEmulator
from appauth_core.tokens._token_claims import fingerprint
from appauth_core.tokens.sources._base import SourceToken, TokenRequest, TokenSource
from appauth_core.tokens.sources._imds_probe import PROBE_BACKOFF_FIRST, PROBE_BACKOFF_MAX, reset_imds_probe_cache
from appauth_core.tokens.sources._managed_identity import ManagedIdentitySource
from appauth_core.tokens.sources._managed_identity_hosts import (
    DEFAULT_CLOUD_SHELL_ENDPOINT,
    DEFAULT_IMDS_HOST,
    IMDS_TOKEN_PATH,
    detect_host,
    normalize_thumbprint,
)
from appauth_core.tokens.sources._managed_identity_replies import parse_expires_on

RESOURCE = "https://vault.azure.net"
UNKNOWN_CLIENT_ID = "00000000-0000-0000-0000-0000000000aa"


# --- fixtures ----------------------------------------------------------------------------------------


class Clock:
    """A monotonic clock that only moves when the source "sleeps": retry_timeout tests without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_probe_memo() -> Iterator[None]:
    reset_imds_probe_cache()
    yield
    reset_imds_probe_cache()


@pytest.fixture
def emulator(azure_emulator: AzureEmulator) -> Iterator[AzureEmulator]:
    """The session emulator, with the managed-identity switches a test may flip put back afterwards."""
    yield azure_emulator
    azure_emulator.configure(legacy_expires_on=False, managed_identity_token_lifetime=86399)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_source(clock: Clock) -> Iterator[Callable[..., ManagedIdentitySource]]:
    made: list[ManagedIdentitySource] = []

    def make(environ: dict[str, str], client_id: str | None = None, **kwargs: Any) -> ManagedIdentitySource:
        source = ManagedIdentitySource(client_id, environ=environ, **kwargs)
        source._sleep = clock.sleep
        source._clock = clock
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def _get(source: ManagedIdentitySource, resource: str = RESOURCE) -> SourceToken:
    return source.get_token(TokenRequest(resource))


def _claims_for(emulator: AzureEmulator, token: SourceToken, client_id: str) -> dict[str, Any]:
    claims = emulator.issuer.verify(token.access_token)
    assert claims["appid"] == client_id
    assert claims["aud"] == RESOURCE
    assert claims["iss"] == f"https://sts.windows.net/{emulator.tenant_id}/"
    assert token.token_type == "Bearer"
    return claims


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- host detection (no network) ---------------------------------------------------------------------


SF = {"IDENTITY_ENDPOINT": "https://e", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "t"}
APP_SERVICE = {"IDENTITY_ENDPOINT": "http://e", "IDENTITY_HEADER": "h"}
LEGACY = {"MSI_ENDPOINT": "http://m", "MSI_SECRET": "s"}
ARC = {"IDENTITY_ENDPOINT": "http://a", "IMDS_ENDPOINT": "http://i"}


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        (SF, "service_fabric"),
        ({**APP_SERVICE, "IMDS_ENDPOINT": "http://i"}, "app_service"),
        ({**APP_SERVICE, **LEGACY}, "app_service"),
        ({**LEGACY, **ARC}, "app_service_2017"),
        ({**ARC, "MSI_ENDPOINT": "http://m"}, "azure_arc"),
        ({"MSI_ENDPOINT": "http://m"}, "cloud_shell"),
        ({"AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"}, "cloud_shell"),
        ({"IDENTITY_ENDPOINT": "http://only-endpoint"}, "imds"),
        ({}, "imds"),
    ],
)
def test_host_detection_order(environ: dict[str, str], kind: str) -> None:
    assert detect_host(environ, arc_agent_installed=False).kind == kind


def test_detection_defaults_and_overrides() -> None:
    assert detect_host({}, arc_agent_installed=False).endpoint == DEFAULT_IMDS_HOST + IMDS_TOKEN_PATH
    pod = detect_host({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1234/"}, arc_agent_installed=False)
    assert pod.endpoint == "http://127.0.0.1:1234" + IMDS_TOKEN_PATH
    shell = detect_host({"AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"}, arc_agent_installed=False)
    assert shell.endpoint == DEFAULT_CLOUD_SHELL_ENDPOINT
    assert detect_host({}, arc_agent_installed=True).kind == "azure_arc"


def test_name_cache_identity_and_repr_hide_the_secret(azure_emulator: AzureEmulator) -> None:
    env = azure_emulator.app_service_env()
    system = ManagedIdentitySource(environ=env)
    user = ManagedIdentitySource("ABCDEF-12", environ=env)
    assert isinstance(system, TokenSource)
    assert system.name == "Managed identity (App Service)"
    endpoint, header = env["IDENTITY_ENDPOINT"], fingerprint(env["IDENTITY_HEADER"])
    assert system.cache_identity == f"msi:system@app_service:{endpoint};header={header}"
    assert user.cache_identity == f"msi:abcdef-12@app_service:{endpoint};header={header}"
    assert env["IDENTITY_HEADER"] not in repr(system) + repr(system.host) + system.cache_identity
    assert ManagedIdentitySource(environ=azure_emulator.imds_env()).name == "Managed identity (IMDS)"


def test_environment_is_read_at_construction(azure_emulator: AzureEmulator) -> None:
    env = dict(azure_emulator.imds_env())
    source = ManagedIdentitySource(environ=env)
    env.update(azure_emulator.app_service_env())
    assert source.host.kind == "imds"


def test_negative_retry_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_timeout"):
        ManagedIdentitySource(environ={}, retry_timeout=-1)


# --- expires_on in every form ------------------------------------------------------------------------


def _epoch(*args: int, offset_minutes: int = 0) -> float:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    return dt.datetime(*args, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1586984735, 1586984735.0),
        ("1586984735", 1586984735.0),
        ("1586984735.5", 1586984735.5),
        ("11/27/2026 01:02:03 AM +00:00", _epoch(2026, 11, 27, 1, 2, 3)),
        ("11/27/2026 01:02:03 PM +00:00", _epoch(2026, 11, 27, 13, 2, 3)),
        ("1/16/2020 5:24:12 AM +00:00", _epoch(2020, 1, 16, 5, 24, 12)),
        ("2/16/2019 12:46:00 AM +00:00", _epoch(2019, 2, 16, 0, 46, 0)),
        ("2/16/2019 12:46:00 PM +00:00", _epoch(2019, 2, 16, 12, 46, 0)),
        ("06/20/2019 02:57:58 +00:00", _epoch(2019, 6, 20, 2, 57, 58)),
        ("06/20/2019 22:57:58 +02:00", _epoch(2019, 6, 20, 22, 57, 58, offset_minutes=120)),
        ("06/20/2019 22:57:58 -05:30", _epoch(2019, 6, 20, 22, 57, 58, offset_minutes=-330)),
    ],
)
def test_parse_expires_on(value: object, expected: float) -> None:
    assert parse_expires_on(value) == expected


@pytest.mark.parametrize(
    "value", ["", "tomorrow", "20/06/2019 02:57:58 +00:00", "06/20/2019 02:57:58", None, True, "nan", [1]]
)
def test_parse_expires_on_refuses_other_forms(value: object) -> None:
    with pytest.raises(ValueError, match="expires_on"):
        parse_expires_on(value)


# --- App Service 2019-08-01 ----------------------------------------------------------------------------


def test_app_service_system_assigned(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    token = _get(make_source(emulator.app_service_env()))
    claims = _claims_for(emulator, token, emulator.directory.system_identity.client_id)
    assert token.expires_on == claims["exp"]  # App Service's epoch string, taken as is
    assert emulator.counters["mi.app_service"] == 1


def test_app_service_user_assigned(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    identity = emulator.user_assigned_identity
    token = _get(make_source(emulator.app_service_env(), identity.client_id.upper()))
    assert _claims_for(emulator, token, identity.client_id)["oid"] == identity.object_id


def test_app_service_unknown_identity_is_a_400_not_retried(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    source = make_source(emulator.app_service_env(), UNKNOWN_CLIENT_ID)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(source)
    assert not isinstance(caught.value, SourceUnavailableError)
    message = str(caught.value)
    assert "400" in message and "No managed identity found" in message  # App Service's own words
    assert UNKNOWN_CLIENT_ID in message and "az webapp identity assign" in message
    assert (caught.value.method, caught.value.resource) == ("Managed identity (App Service)", RESOURCE)
    assert emulator.counters["mi.app_service"] == 1
    assert clock.sleeps == []


def test_long_lived_tokens_refresh_at_half_life(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    token = _get(make_source(emulator.app_service_env()))  # the emulator's managed identity tokens live ~24 h
    assert token.refresh_on is not None
    assert token.expires_on - token.refresh_on == pytest.approx(86399 / 2, abs=5)
    emulator.configure(managed_identity_token_lifetime=3600)
    assert _get(make_source(emulator.app_service_env()), "https://storage.azure.com").refresh_on is None


def test_wrong_identity_header_is_a_clear_error(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    env = {**emulator.app_service_env(), "IDENTITY_HEADER": "not-the-platform-value"}
    with pytest.raises(AzureServiceTokenProviderError, match="401") as caught:
        _get(make_source(env))
    assert "IDENTITY_HEADER" in str(caught.value)
    assert "not-the-platform-value" not in str(caught.value)
    assert emulator.counters["mi.app_service"] == 1


def test_secrets_echoed_by_an_endpoint_are_redacted(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    env = emulator.app_service_env()
    emulator.faults.inject("mi.app_service", status=401, body={"message": f"bad header {env['IDENTITY_HEADER']}"})
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source(env))
    assert env["IDENTITY_HEADER"] not in str(caught.value)
    assert "<<Redacted>>" in str(caught.value)


@pytest.mark.parametrize("retried", [False, True], ids=["refused", "retries-exhausted"])
def test_a_secret_echoed_where_a_long_message_is_cut_is_redacted_before_the_cut(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], retried: bool
):
    """The endpoint's words are shortened to a few hundred characters: a secret straddling the cut must not
    leave its first characters behind (redacting after the cut only matches whole secrets)."""
    env = emulator.app_service_env()
    secret = env["IDENTITY_HEADER"]
    assert len(secret) > 24
    body = {"message": "x" * 280 + secret}  # the cut (at 300 characters) falls inside the secret
    if retried:
        emulator.faults.inject("mi.app_service", status=503, body=body, headers={"Retry-After": "0"}, times=6)
    else:
        emulator.faults.inject("mi.app_service", status=401, body=body)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source(env))
    message = str(caught.value)
    assert secret[:8] not in message
    assert "<<Redacted>>" in message


def test_a_token_with_unreadable_expiry_is_never_shown(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    access_token = emulator.issue_token(RESOURCE, identity=emulator.directory.system_identity).access_token
    body = {"access_token": access_token, "expires_on": "someday", "token_type": "Bearer"}
    emulator.faults.inject("mi.app_service", status=200, body=body)
    with pytest.raises(AzureServiceTokenProviderError, match="ExpiresOn in token response could not be parsed") as e:
        _get(make_source(emulator.app_service_env()))
    assert access_token not in str(e.value)


def test_invalid_resource_sends_nothing(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    with pytest.raises(AzureServiceTokenProviderError, match="not a valid resource"):
        _get(make_source(emulator.app_service_env()), "https://vault.azure.net/?x=1&y")
    assert emulator.counters["mi"] == 0


# --- App Service 2017-09-01 (MSI_ENDPOINT / MSI_SECRET) ---------------------------------------------


@pytest.mark.parametrize("legacy_date", [False, True], ids=["epoch", "date-with-AM/PM"])
@pytest.mark.parametrize("user_assigned", [False, True], ids=["system", "user"])
def test_app_service_2017(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], legacy_date: bool, user_assigned: bool
):
    emulator.configure(legacy_expires_on=legacy_date)
    identity = emulator.user_assigned_identity if user_assigned else emulator.directory.system_identity
    source = make_source(emulator.app_service_2017_env(), identity.client_id if user_assigned else None)
    assert source.name == "Managed identity (App Service 2017-09-01)"
    token = _get(source)
    claims = _claims_for(emulator, token, identity.client_id)  # "clientid" (no underscore) was understood
    assert token.expires_on == claims["exp"]
    assert emulator.counters["mi.app_service_2017"] == 1


def test_app_service_2017_linux_date_form(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    access_token = emulator.issue_token(RESOURCE, identity=emulator.directory.system_identity).access_token
    body = {"access_token": access_token, "expires_on": "06/20/2031 14:57:58 +00:00", "resource": RESOURCE}
    emulator.faults.inject("mi.app_service_2017", status=200, body=body)
    token = _get(make_source(emulator.app_service_2017_env()))
    assert token.expires_on == _epoch(2031, 6, 20, 14, 57, 58)
    assert token.access_token == access_token


# --- IMDS ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_assigned", [False, True], ids=["system", "user"])
def test_imds(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], user_assigned: bool):
    identity = emulator.user_assigned_identity if user_assigned else emulator.directory.system_identity
    token = _get(make_source(emulator.imds_env(), identity.client_id if user_assigned else None))
    claims = _claims_for(emulator, token, identity.client_id)
    assert abs(token.expires_on - claims["exp"]) < 60  # counted from expires_in on our own clock
    assert emulator.counters["mi.imds"] == 1


def test_imds_unknown_identity_is_not_retried(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source(emulator.imds_env(), UNKNOWN_CLIENT_ID))
    message = str(caught.value)
    assert "Identity not found" in message and "non-retryable" in message
    assert f"client ID '{UNKNOWN_CLIENT_ID}'" in message and "az vm identity assign" in message
    assert emulator.counters["mi.imds"] == 1
    assert clock.sleeps == []


def test_imds_reply_for_another_identity_is_refused(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    system = emulator.directory.system_identity
    access_token = emulator.issue_token(RESOURCE, identity=system).access_token
    body = {"access_token": access_token, "expires_in": "3599", "client_id": system.client_id}
    emulator.faults.inject("mi.imds", status=200, body=body)
    with pytest.raises(AzureServiceTokenProviderError, match="did not confirm"):
        _get(make_source(emulator.imds_env(), emulator.user_assigned_identity.client_id))


# --- retries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 429, 500, 503])
def test_retryable_statuses_with_retry_after_zero(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock, status: int
):
    emulator.faults.inject("mi.imds", status=status, headers={"Retry-After": "0"}, times=2)
    token = _get(make_source(emulator.imds_env()))
    _claims_for(emulator, token, emulator.directory.system_identity.client_id)
    assert emulator.counters["mi.imds"] == 3
    assert clock.sleeps == [0.0, 0.0]


@pytest.mark.parametrize(
    ("status", "expected_waits"),
    [(503, [0.8, 1.6, 3.2]), (404, [0.8, 1.6, 3.2]), (410, [2.5, 5.0, 10.0])],
)
def test_exponential_backoff_without_retry_after(
    emulator: AzureEmulator,
    make_source: Callable[..., ManagedIdentitySource],
    clock: Clock,
    status: int,
    expected_waits: list[float],
):
    emulator.faults.inject("mi.imds", status=status, times=3)
    _get(make_source(emulator.imds_env()))
    assert clock.sleeps == pytest.approx(expected_waits)


def test_retry_after_is_honoured_and_capped(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    emulator.faults.inject("mi.imds", status=429, headers={"Retry-After": "7"})
    emulator.faults.inject("mi.imds", status=429, headers={"Retry-After": "86400"})
    _get(make_source(emulator.imds_env()))
    assert clock.sleeps == [7.0, 60.0]


def test_retry_exhaustion(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock):
    emulator.faults.inject("mi.imds", status=503, headers={"Retry-After": "0"}, times=6)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source(emulator.imds_env()))
    assert "Failed after 5 retries" in str(caught.value) and "503" in str(caught.value)
    assert emulator.counters["mi.imds"] == 6
    assert len(clock.sleeps) == 5


def test_app_service_retries_too(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    emulator.faults.inject("mi.app_service", status=500, headers={"Retry-After": "0"})
    _get(make_source(emulator.app_service_env()))
    assert emulator.counters["mi.app_service"] == 2


def test_connection_refused_is_retried_then_reported(make_source: Callable[..., ManagedIdentitySource], clock: Clock):
    url = _closed_port_url()
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source({"AZURE_POD_IDENTITY_AUTHORITY_HOST": url}))
    assert not isinstance(caught.value, SourceUnavailableError)
    assert "Failed after 5 retries" in str(caught.value) and "Unable to connect" in str(caught.value)
    assert url in str(caught.value)
    assert len(clock.sleeps) == 5


def test_retry_timeout_bounds_the_backoff(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    emulator.faults.inject("mi.imds", status=503, times=6)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _get(make_source(emulator.imds_env(), retry_timeout=1))
    message = str(caught.value)
    assert "Reached retry timeout limit set by MsiRetryTimeout" in message and "503" in message
    assert clock.sleeps == [0.8]  # the next wait (1.6 s) would have overrun the 1 s bound
    assert emulator.counters["mi.imds"] == 2


def test_retry_timeout_bounds_a_slow_endpoint(emulator: AzureEmulator):
    # A real clock here: the endpoint holds its reply for 5 s; the 0.3 s bound cuts the read short.
    emulator.faults.inject("mi.imds", delay=5)
    source = ManagedIdentitySource(environ=emulator.imds_env(), retry_timeout=0.3)
    with pytest.raises(AzureServiceTokenProviderError, match="Reached retry timeout limit") as caught:
        _get(source)
    assert "did not answer in time" in str(caught.value)
    assert emulator.counters["mi.imds"] == 1
    source.close()


# --- broken replies --------------------------------------------------------------------------------


def test_garbage_body_is_a_clear_error(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    emulator.faults.inject("mi.imds", garbage=True)
    with pytest.raises(AzureServiceTokenProviderError, match="not JSON") as caught:
        _get(make_source(emulator.imds_env()))
    assert "misbehaving" in str(caught.value)
    assert emulator.counters["mi.imds"] == 1


def test_garbage_error_body_is_retried_by_status(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    emulator.faults.inject("mi.imds", status=502, garbage=True, headers={"Retry-After": "0"}, times=6)
    with pytest.raises(AzureServiceTokenProviderError, match=r"502 with a body that is not JSON"):
        _get(make_source(emulator.imds_env()))


def test_truncated_body_is_retried(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    emulator.faults.inject("mi.imds", truncate=True)
    _get(make_source(emulator.imds_env()))
    assert emulator.counters["mi.imds"] == 2


def test_truncated_body_every_time(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    emulator.faults.inject("mi.imds", truncate=True, times=6)
    with pytest.raises(AzureServiceTokenProviderError, match="connection broke before the whole reply"):
        _get(make_source(emulator.imds_env()))
    assert emulator.counters["mi.imds"] == 6


@pytest.mark.parametrize(
    "body",
    [[1, 2], {"expires_in": "3599"}, {"access_token": 42, "expires_in": "3599"}, {"access_token": "x"}],
    ids=["not-an-object", "no-token", "token-not-a-string", "no-expiry"],
)
def test_replies_without_a_usable_token(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], body: Any
):
    emulator.faults.inject("mi.imds", status=200, body=body)
    with pytest.raises(AzureServiceTokenProviderError, match=r"access_token|expires"):
        _get(make_source(emulator.imds_env()))


# --- the IMDS probe (default chain) ----------------------------------------------------------------------


def test_probe_runs_once_per_process(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    _get(make_source(emulator.imds_env(), probe=True))
    assert emulator.counters["mi.imds"] == 2  # the probe, then the token request
    _get(make_source(emulator.imds_env(), probe=True))
    assert emulator.counters["mi.imds"] == 3  # a second source trusts the first probe
    reset_imds_probe_cache()
    _get(make_source(emulator.imds_env(), probe=True))
    assert emulator.counters["mi.imds"] == 5


def test_probe_is_only_for_imds(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    _get(make_source(emulator.app_service_env(), probe=True))
    assert emulator.counters["mi"] == 1


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls += 1
        return super().request(*args, **kwargs)


def test_failed_probe_is_remembered_until_its_backoff_has_passed(
    make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    env = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": _closed_port_url()}
    first_session, second_session = CountingSession(), CountingSession()
    with pytest.raises(SourceUnavailableError, match="no managed identity endpoint") as caught:
        _get(make_source(env, probe=True, session=first_session))
    assert caught.value.method == "Managed identity (IMDS)"
    assert caught.value.retry_after == PROBE_BACKOFF_FIRST  # not here for now: a chain asks again later
    assert first_session.calls == 1  # one probe, no retries, no token request
    source = make_source(env, probe=True, session=second_session)
    for _ in range(2):
        with pytest.raises(SourceUnavailableError, match="asked again in 10 s"):
            _get(source)
    assert second_session.calls == 0  # later sources answer from the memo at once
    assert clock.sleeps == []

    backoffs = []
    for _ in range(7):  # each unanswered probe doubles the wait, up to its cap
        clock.now += 1000.0
        with pytest.raises(SourceUnavailableError) as caught:
            _get(source)
        backoffs.append(caught.value.retry_after)
    assert second_session.calls == 7
    assert backoffs == [20.0, 40.0, 80.0, 160.0, PROBE_BACKOFF_MAX, PROBE_BACKOFF_MAX, PROBE_BACKOFF_MAX]
    first_session.close()
    second_session.close()


def test_an_imds_that_answers_after_a_failed_probe_is_used(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], clock: Clock
):
    emulator.faults.inject("mi.imds", status=403, body={"error": "forbidden", "message": "unreachable network"})
    source = make_source(emulator.imds_env(), probe=True)
    with pytest.raises(SourceUnavailableError, match="403 from a proxy"):
        _get(source)
    clock.now += PROBE_BACKOFF_FIRST
    _claims_for(emulator, _get(source), emulator.directory.system_identity.client_id)
    clock.now += 10 * PROBE_BACKOFF_MAX
    _get(source)
    assert emulator.counters["mi.imds"] == 4  # two probes, two token requests: an answer is kept for good


def test_identity_not_found_in_a_chain_means_unavailable(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    with pytest.raises(SourceUnavailableError, match="Identity not found"):
        _get(make_source(emulator.imds_env(), UNKNOWN_CLIENT_ID, probe=True))


# --- Azure Arc -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_assigned", [False, True], ids=["system", "user"])
def test_azure_arc(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], user_assigned: bool):
    identity = emulator.user_assigned_identity if user_assigned else emulator.directory.system_identity
    source = make_source(
        emulator.arc_env(),
        identity.client_id if user_assigned else None,
        arc_key_dir=emulator.managed_identity.arc_key_dir,
    )
    assert source.name == "Managed identity (Azure Arc)"
    _claims_for(emulator, _get(source), identity.client_id)
    assert emulator.counters["mi.arc"] == 2  # the 401 challenge, then the request with the key


def _arc_challenge(emulator: AzureEmulator, realm: str) -> None:
    emulator.faults.inject("mi.arc", status=401, headers={"WWW-Authenticate": f"Basic realm={realm}"})


def test_arc_refuses_a_challenge_naming_a_non_key_file(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    _arc_challenge(emulator, "/etc/passwd")
    source = make_source(emulator.arc_env(), arc_key_dir=emulator.managed_identity.arc_key_dir)
    with pytest.raises(AzureServiceTokenProviderError, match=r"'passwd', not a \.key file"):
        _get(source)
    assert emulator.counters["mi.arc"] == 1


def test_arc_reads_keys_only_from_its_own_folder(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], tmp_path: Path
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "planted.key").write_text("not-the-agent's-key")
    _arc_challenge(emulator, str(elsewhere / "planted.key"))
    source = make_source(emulator.arc_env(), arc_key_dir=tmp_path / "agent")
    with pytest.raises(AzureServiceTokenProviderError, match="Cannot read Azure Arc's key") as caught:
        _get(source)
    assert str(tmp_path / "agent" / "planted.key") in str(caught.value)
    assert emulator.counters["mi.arc"] == 1  # the planted key was never sent


def test_arc_refuses_an_oversized_key(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], tmp_path: Path
):
    (tmp_path / "big.key").write_text("k" * 4097)
    _arc_challenge(emulator, "/var/opt/azcmagent/tokens/big.key")
    with pytest.raises(AzureServiceTokenProviderError, match="larger than 4096 bytes"):
        _get(make_source(emulator.arc_env(), arc_key_dir=tmp_path))


def test_arc_refuses_a_symlinked_key(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], tmp_path: Path
):
    (tmp_path / "target").write_text("secret")
    os.symlink(tmp_path / "target", tmp_path / "link.key")
    _arc_challenge(emulator, "/var/opt/azcmagent/tokens/link.key")
    with pytest.raises(AzureServiceTokenProviderError, match="not a regular file"):
        _get(make_source(emulator.arc_env(), arc_key_dir=tmp_path))


def test_arc_unrecognisable_challenge(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    emulator.faults.inject("mi.arc", status=401, headers={"WWW-Authenticate": "Bearer authorization_uri=x"})
    with pytest.raises(AzureServiceTokenProviderError, match="WWW-Authenticate: Basic realm"):
        _get(make_source(emulator.arc_env(), arc_key_dir=emulator.managed_identity.arc_key_dir))


def test_arc_must_confirm_a_user_assigned_identity(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    access_token = emulator.issue_token(RESOURCE, identity=emulator.directory.system_identity).access_token
    emulator.faults.inject("mi.arc")  # the real challenge passes through
    emulator.faults.inject("mi.arc", status=200, body={"access_token": access_token, "expires_in": "3599"})
    source = make_source(
        emulator.arc_env(), emulator.user_assigned_identity.client_id, arc_key_dir=emulator.managed_identity.arc_key_dir
    )
    with pytest.raises(AzureServiceTokenProviderError, match="did not confirm") as caught:
        _get(source)
    assert access_token not in str(caught.value)
    assert emulator.counters["mi.arc"] == 2


def test_arc_challenge_is_retried_after_a_503(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    emulator.faults.inject("mi.arc", status=503, headers={"Retry-After": "0"})
    _get(make_source(emulator.arc_env(), arc_key_dir=emulator.managed_identity.arc_key_dir))
    assert emulator.counters["mi.arc"] == 3


# --- Cloud Shell -----------------------------------------------------------------------------------------


def test_cloud_shell(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    source = make_source(emulator.cloud_shell_env())
    assert source.name == "Managed identity (Cloud Shell)"
    _claims_for(emulator, _get(source), emulator.directory.system_identity.client_id)
    assert emulator.counters["mi.cloud_shell"] == 1  # a POST: the stand-in answers 405 to anything else


def test_cloud_shell_has_no_user_assigned_identity(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    with pytest.raises(AzureServiceTokenProviderError, match="cannot choose a user-assigned identity"):
        _get(make_source(emulator.cloud_shell_env(), emulator.user_assigned_identity.client_id))
    assert emulator.counters["mi"] == 0


# --- Service Fabric --------------------------------------------------------------------------------------


def test_service_fabric_pins_the_certificate(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], monkeypatch: pytest.MonkeyPatch
):
    # No CA bundle anywhere: the pin alone must be enough trust (the emulator's CA is in no store).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    env = emulator.service_fabric_env()
    env["IDENTITY_SERVER_THUMBPRINT"] = ":".join(
        env["IDENTITY_SERVER_THUMBPRINT"][i : i + 2].upper() for i in range(0, 40, 2)
    )  # the colon-separated upper-case form is accepted too
    source = make_source(env)
    assert source.name == "Managed identity (Service Fabric)"
    token = _get(source)
    claims = _claims_for(emulator, token, emulator.directory.system_identity.client_id)
    assert token.expires_on == claims["exp"]  # Service Fabric's expires_on is a JSON number
    assert emulator.counters["mi.service_fabric"] == 1


def test_service_fabric_thumbprint_mismatch_sends_nothing(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    env = {**emulator.service_fabric_env(), "IDENTITY_SERVER_THUMBPRINT": "ab" * 20}
    with pytest.raises(AzureServiceTokenProviderError, match="does not match IDENTITY_SERVER_THUMBPRINT") as caught:
        _get(make_source(env))
    assert "secret was not sent" in str(caught.value)
    assert emulator.counters["mi.service_fabric"] == 0  # refused right after the handshake
    assert env["IDENTITY_HEADER"] not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"IDENTITY_SERVER_THUMBPRINT": "not-a-thumbprint"}, "not a SHA-1 certificate thumbprint"),
        ({"IDENTITY_ENDPOINT": "http://127.0.0.1:1/metadata/identity/oauth2/token"}, "must be an https URL"),
    ],
)
def test_service_fabric_configuration_errors(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource], change: dict[str, str], match: str
):
    with pytest.raises(AzureServiceTokenProviderError, match=match):
        _get(make_source({**emulator.service_fabric_env(), **change}))
    assert emulator.counters["mi"] == 0


def test_service_fabric_has_no_user_assigned_identity(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    with pytest.raises(AzureServiceTokenProviderError, match="application manifest"):
        _get(make_source(emulator.service_fabric_env(), emulator.user_assigned_identity.client_id))


def test_service_fabric_wrong_secret(emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]):
    env = {**emulator.service_fabric_env(), "IDENTITY_HEADER": "wrong-secret"}
    with pytest.raises(AzureServiceTokenProviderError, match="SecretHeaderNotFound") as caught:
        _get(make_source(env))
    assert "wrong-secret" not in str(caught.value)


def test_normalize_thumbprint() -> None:
    assert normalize_thumbprint(" AB:cd" + "0" * 36 + "\n") == "abcd" + "0" * 36
    assert normalize_thumbprint("ab" * 32) is None  # SHA-256 length: not what Service Fabric uses


def test_unusable_endpoint_or_secret_is_reported_without_the_secret(
    emulator: AzureEmulator, make_source: Callable[..., ManagedIdentitySource]
):
    # requests refuses a header value with a line break and quotes it in its own error: we must not.
    env = {**emulator.app_service_env(), "IDENTITY_HEADER": "top\nsecret-value"}
    with pytest.raises(AzureServiceTokenProviderError, match="Cannot send a request") as caught:
        _get(make_source(env))
    assert "secret-value" not in str(caught.value)
    assert caught.value.__cause__ is None
    with pytest.raises(AzureServiceTokenProviderError, match="Cannot send a request"):
        _get(make_source({"IDENTITY_ENDPOINT": "not a url", "IDENTITY_HEADER": "h"}))
