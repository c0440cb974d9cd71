"""Transient failures of Entra ID's token endpoint are retried a bounded number of times (urllib3's ``Retry`` below
msal, ``confidential_client._TransientRetry``); errors that asking again does not fix are not. Real msal, real
HTTP on loopback, faults injected in the emulated Entra ID.

Timings are never asserted, only guarded against hangs (``bounded``): a Retry-After that were slept would
run far past the guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from appauth_core import TokenEndpointError
from appauth_core.tokens.sources import _confidential_client as confidential_client
from appauth_core.tokens.sources._base import TokenRequest
from appauth_core.tokens.sources._client_secret import ClientSecretSource
from appauth_core.tokens.sources._confidential_client import RETRIES
from tests.core.test_certificate_source import _source as certificate_source
from tests.core.test_certificate_source import make_certificate, write_pfx
from tests.hardening.support import Outcome, bounded

VAULT = "https://vault.azure.net"
HANG_GUARD = 60.0  # seconds: a bound against hangs (a slept Retry-After: 3600), not a performance target


def _entra_error(status: int) -> dict[str, object]:
    return {
        "error": "temporarily_unavailable",
        "error_description": f"AADSTS50000: Injected {status}.",
        "error_codes": [50000],
    }


def _source(emulator) -> ClientSecretSource:
    return ClientSecretSource(emulator.app.app_id, emulator.tenant_id, emulator.app.secrets[0])


def _request(emulator) -> TokenRequest:
    return TokenRequest(VAULT, authority_host=emulator.authority)


def _get_token(emulator, source=None) -> Outcome:
    source = source or _source(emulator)
    outcome = bounded(lambda: source.get_token(_request(emulator)), HANG_GUARD)
    assert outcome.finished, f"still waiting after {HANG_GUARD:g} s"
    return outcome


def _assert_token(emulator, outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    assert emulator.issuer.verify(outcome.value.access_token)["aud"] == VAULT


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_one_5xx_is_retried(azure_emulator, azure_emulator_env, status):
    azure_emulator.faults.inject("entra.token", status=status, body=_entra_error(status), times=1)
    outcome = _get_token(azure_emulator)
    _assert_token(azure_emulator, outcome)
    assert azure_emulator.counters["entra.token"] == 2


def test_one_429_waits_for_its_retry_after(azure_emulator, azure_emulator_env):
    azure_emulator.faults.inject(
        "entra.token", status=429, body=_entra_error(429), headers={"Retry-After": "1"}, times=1
    )
    outcome = _get_token(azure_emulator)
    _assert_token(azure_emulator, outcome)
    assert azure_emulator.counters["entra.token"] == 2


def test_an_unreadable_retry_after_is_a_back_off(azure_emulator, azure_emulator_env):
    """urllib3 raises on a Retry-After it cannot parse; that must not end the call with an odd error."""
    azure_emulator.faults.inject(
        "entra.token", status=503, body=_entra_error(503), headers={"Retry-After": "soon"}, times=1
    )
    outcome = _get_token(azure_emulator)
    _assert_token(azure_emulator, outcome)
    assert azure_emulator.counters["entra.token"] == 2


@pytest.mark.parametrize("status", [429, 503])
def test_a_long_retry_after_is_an_error_now_not_a_long_sleep(azure_emulator, azure_emulator_env, status):
    """Entra throttling an app for an hour: the caller learns now. msal then keeps the reply for its
    Retry-After and answers the same request with it, so the next call does not reach Entra either."""
    azure_emulator.faults.inject(
        "entra.token", status=status, body=_entra_error(status), headers={"Retry-After": "3600"}, times=10
    )
    source = _source(azure_emulator)
    outcome = _get_token(azure_emulator, source)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert azure_emulator.counters["entra.token"] == 1
    if status == 429:  # a reply msal can read: Entra's own words
        assert "AADSTS50000: Injected 429." in str(outcome.error)
    else:
        assert "HTTP Error: 503" in str(outcome.error)
    again = _get_token(azure_emulator, source)
    assert isinstance(again.error, TokenEndpointError), again.error
    assert azure_emulator.counters["entra.token"] == 1  # msal's throttle, not a retry storm


def test_a_retry_after_within_the_cap_is_waited_for(azure_emulator, azure_emulator_env, monkeypatch):
    """The cap decides, not the status: lowered below the header's value, the same 429 is not waited for."""
    monkeypatch.setattr(confidential_client, "MAX_RETRY_AFTER_SECONDS", 0.5)
    azure_emulator.faults.inject(
        "entra.token", status=429, body=_entra_error(429), headers={"Retry-After": "1"}, times=1
    )
    outcome = _get_token(azure_emulator)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert azure_emulator.counters["entra.token"] == 1


def test_a_persistent_503_ends_in_a_typed_error_after_the_bounded_attempts(azure_emulator, azure_emulator_env):
    azure_emulator.faults.inject("entra.token", status=503, body=_entra_error(503), times=100)
    outcome = _get_token(azure_emulator)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert "HTTP Error: 503" in str(outcome.error)
    assert "Entra ID, or a proxy in front of it, is failing. Try again later." in str(outcome.error)
    assert azure_emulator.counters["entra.token"] == 1 + RETRIES == 3


def test_a_persistent_429_ends_in_entras_error_after_the_bounded_attempts(azure_emulator, azure_emulator_env):
    azure_emulator.faults.inject(
        "entra.token", status=429, body=_entra_error(429), headers={"Retry-After": "1"}, times=100
    )
    outcome = _get_token(azure_emulator)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert outcome.error.error_codes == (50000,)  # msal still reads the last reply: our translation is unchanged
    assert azure_emulator.counters["entra.token"] == 1 + RETRIES


def test_an_aadsts_400_is_not_retried(azure_emulator, azure_emulator_env):
    """A wrong secret: the emulated Entra answers 400 invalid_client, as Entra does."""
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, "not-the-secret")
    outcome = _get_token(azure_emulator, source)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert outcome.error.error_codes == (7000215,)
    assert azure_emulator.counters["entra.token"] == 1


def test_a_401_is_not_retried(azure_emulator, azure_emulator_env):
    body = {"error": "invalid_client", "error_description": "AADSTS7000222: expired.", "error_codes": [7000222]}
    azure_emulator.faults.inject("entra.token", status=401, body=body, times=10)
    outcome = _get_token(azure_emulator)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert outcome.error.error_codes == (7000222,)
    assert azure_emulator.counters["entra.token"] == 1


def test_a_read_timeout_is_retried_once(azure_emulator, azure_emulator_env, monkeypatch):
    monkeypatch.setattr(confidential_client, "HTTP_TIMEOUT_SECONDS", 1.0)
    azure_emulator.faults.inject("entra.token", delay=2.0, times=1)
    outcome = _get_token(azure_emulator)
    _assert_token(azure_emulator, outcome)
    assert azure_emulator.counters["entra.token"] == 2


def test_persistent_read_timeouts_end_after_one_retry(azure_emulator, azure_emulator_env, monkeypatch):
    """Each attempt may cost a whole timeout, so a hung endpoint is asked twice, not three times."""
    monkeypatch.setattr(confidential_client, "HTTP_TIMEOUT_SECONDS", 1.0)
    azure_emulator.faults.inject("entra.token", delay=1.5, times=10)
    outcome = _get_token(azure_emulator)
    assert isinstance(outcome.error, TokenEndpointError), outcome.error
    assert "Could not reach" in str(outcome.error)
    assert azure_emulator.counters["entra.token"] == 2


def test_the_certificate_source_is_retried_too(azure_emulator, azure_emulator_env, tmp_path: Path):
    cert = make_certificate("retried")
    app = azure_emulator.register_app(certificate=cert)
    write_pfx(tmp_path, cert)
    source = certificate_source(azure_emulator, app, tmp_path, thumbprint=cert.thumbprint_sha1)
    azure_emulator.faults.inject("entra.token", status=503, body=_entra_error(503), times=1)
    outcome = _get_token(azure_emulator, source)
    _assert_token(azure_emulator, outcome)
    assert azure_emulator.counters["entra.token"] == 2
