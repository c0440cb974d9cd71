"""TokenValidator's OpenID metadata and signing keys, counted at the emulator: fetched once for many concurrent
first requests, refetched once for a flood of unknown kids, rotation picked up with one refetch and no failed
request, refreshed daily with the old keys kept when that fails, and a 503 (not a 401) when none can be had."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from appauth_core import SigningKeysUnavailableError, TokenValidationError
from appauth_core._internal.single_flight import wait_for_background_refreshes
from appauth_core.testing import AzureEmulator
from appauth_core.validation import _metadata, error_response
from tests.canaries import Canaries

from .test_fork_safety import in_children
from .validator_support import app_token, new_api, parts, validator_for, with_header


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureEmulator]:
    """An emulator of its own (rotating and retiring keys must not reach other tests' tokens), trusted."""
    with AzureEmulator() as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle_path))
        yield emulator
        wait_for_background_refreshes()


def together(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` on ``count`` threads released at once; the results (or exceptions) in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait(timeout=10)
        try:
            return call(index)
        except Exception as error:
            return error

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_first_validations_share_one_discovery_and_one_key_fetch(emulator: AzureEmulator) -> None:
    api = new_api(emulator)
    tokens = [app_token(emulator, api) for _ in range(16)]
    validator = validator_for(emulator, api)

    callers = together(16, lambda i: validator.validate(tokens[i]))

    assert all(caller.client_id == emulator.app.app_id for caller in callers), callers
    assert (emulator.counters["entra.discovery"], emulator.counters["entra.jwks"]) == (1, 1)


def test_a_flood_of_forged_kids_causes_one_key_refetch(emulator: AzureEmulator) -> None:
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    validator.validate(app_token(emulator, api))
    forged = [with_header(app_token(emulator, api), kid=f"forged-{i}") for i in range(200)]
    before = emulator.counters["entra.jwks"]

    sequential = [_refusal(validator, token) for token in forged[:100]]
    concurrent = together(100, lambda i: _refusal(validator, forged[100 + i]))

    assert emulator.counters["entra.jwks"] - before == 1
    assert all("no published signing key" in reason for reason in sequential + concurrent), concurrent[:3]


def test_an_unknown_kid_may_refetch_again_once_the_interval_has_passed(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    validator.validate(app_token(emulator, api))
    before = emulator.counters["entra.jwks"]

    _refusal(validator, with_header(app_token(emulator, api), kid="forged-1"))
    _refusal(validator, with_header(app_token(emulator, api), kid="forged-2"))
    assert emulator.counters["entra.jwks"] - before == 1
    monkeypatch.setattr(_metadata, "KID_REFETCH_SECONDS", 0.0)
    _refusal(validator, with_header(app_token(emulator, api), kid="forged-3"))
    assert emulator.counters["entra.jwks"] - before == 2


def test_key_rotation_is_picked_up_with_one_refetch_and_no_failed_request(emulator: AzureEmulator) -> None:
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    old = app_token(emulator, api)
    validator.validate(old)
    before = emulator.counters["entra.jwks"]

    new_kid = emulator.rotate_signing_key()
    new_tokens = [app_token(emulator, api) for _ in range(16)]
    assert {parts(token)[0]["kid"] for token in new_tokens} == {new_kid}
    callers = together(16, lambda i: validator.validate(new_tokens[i]))

    assert all(not isinstance(caller, Exception) for caller in callers), callers
    assert validator.validate(old).client_id == emulator.app.app_id  # both keys are published now
    assert emulator.counters["entra.jwks"] - before == 1


def test_a_new_key_right_after_a_forged_kid_waits_for_the_next_refetch(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price of one refetch per interval (Microsoft.IdentityModel pays it too): a forged kid that used the
    refetch just before a rotation delays the new key until the interval has passed. Entra publishes new keys
    well before it signs with them, so the periodic refresh has them first."""
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    validator.validate(app_token(emulator, api))
    _refusal(validator, with_header(app_token(emulator, api), kid="forged"))
    emulator.rotate_signing_key()
    signed_by_the_new_key = app_token(emulator, api)

    assert "no published signing key" in _refusal(validator, signed_by_the_new_key)
    monkeypatch.setattr(_metadata, "KID_REFETCH_SECONDS", 0.0)  # the interval has passed
    assert validator.validate(signed_by_the_new_key).client_id == emulator.app.app_id


def test_the_periodic_refresh_drops_a_retired_key(emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh is due on every lookup here (REFRESH_SECONDS 0): it runs in the background, and the request
    whose kid is new waits for it rather than being refused or starting a fetch of its own."""
    monkeypatch.setattr(_metadata, "REFRESH_SECONDS", 0.0)
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    validator.validate(app_token(emulator, api))
    signed_by_the_old_key = app_token(emulator, api)
    emulator.rotate_signing_key()
    emulator.retire_old_signing_keys()

    assert validator.validate(app_token(emulator, api)).client_id == emulator.app.app_id
    assert wait_for_background_refreshes()

    assert "no published signing key" in _refusal(validator, signed_by_the_old_key)
    assert emulator.counters["entra.discovery"] >= 2  # a refresh reads the discovery document again


def test_a_failed_refresh_keeps_the_keys_it_had(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_metadata, "REFRESH_SECONDS", 0.0)  # due at once after the first fetch
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    validator.validate(app_token(emulator, api))
    emulator.faults.inject("entra.jwks", status=500, times=10)
    before = emulator.counters["entra.jwks"]

    with caplog.at_level(logging.WARNING, "appauth_core"):
        caller = validator.validate(app_token(emulator, api))
        assert wait_for_background_refreshes()

    assert caller.client_id == emulator.app.app_id
    assert emulator.counters["entra.jwks"] > before  # the refresh was tried (and retried)
    assert any("Kept the signing keys" in record.getMessage() for record in caplog.records)
    assert validator.validate(app_token(emulator, api)).client_id == emulator.app.app_id  # still served


def test_no_keys_at_all_is_503_and_a_down_authority_is_not_asked_by_every_request(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, canaries: Canaries
) -> None:
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    emulator.faults.inject("entra.discovery", status=503, times=3)  # the first attempt and its two retries

    with pytest.raises(SigningKeysUnavailableError) as unavailable:
        validator.validate(canaries.add(app_token(emulator, api), "token during an outage"))
    error = unavailable.value
    canaries.check_error(error)
    assert (error.status, error.error) == (503, None)
    assert "answered 503" in error.reason and error.authority == f"{emulator.authority}{emulator.tenant_id}"
    status, headers, body = error_response(error)
    assert status == 503 and "Retry-After" in headers and "WWW-Authenticate" not in headers
    assert body["error"] == "temporarily_unavailable"

    asked = emulator.counters["entra.discovery"]
    with pytest.raises(SigningKeysUnavailableError, match="not tried again"):
        validator.validate(app_token(emulator, api))
    assert emulator.counters["entra.discovery"] == asked

    monkeypatch.setattr(_metadata, "FAILURE_HOLD_SECONDS", 0.0)
    assert validator.validate(app_token(emulator, api)).client_id == emulator.app.app_id  # it came back


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"garbage": True}, "is not JSON"),
        ({"status": 200, "body": {"keys": [{"kty": "EC", "kid": "k", "crv": "P-256"}]}}, "no RSA signing key"),
        ({"status": 200, "body": {"no": "keys"}}, "no 'keys' list"),
        ({"pad": 300 * 1024}, "larger than 256 KiB"),
    ],
)
def test_a_key_set_that_cannot_be_used_is_503_with_the_reason(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any], reason: str
) -> None:
    monkeypatch.setattr(_metadata, "FAILURE_HOLD_SECONDS", 0.0)
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    emulator.faults.inject("entra.jwks", **fault)

    with pytest.raises(SigningKeysUnavailableError) as unavailable:
        validator.validate(app_token(emulator, api))

    assert reason in unavailable.value.reason
    assert validator.validate(app_token(emulator, api)).client_id == emulator.app.app_id


def test_a_discovery_document_without_a_key_set_is_503(emulator: AzureEmulator) -> None:
    api = new_api(emulator)
    emulator.faults.inject("entra.discovery", status=200, body={"issuer": "https://sts.windows.net/x/"})

    with pytest.raises(SigningKeysUnavailableError, match="no issuer or jwks_uri"):
        validator_for(emulator, api).validate(app_token(emulator, api))


def _refusal(validator: Any, token: str) -> str:
    try:
        validator.validate(token)
    except TokenValidationError as error:
        return error.reason
    raise AssertionError("the token was accepted")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_keeps_the_keys_and_tokens_and_none_of_the_locks(emulator: AzureEmulator) -> None:
    """gunicorn --preload: the master validated tokens, then forked while a thread held the validator's locks."""
    api = new_api(emulator)
    validator = validator_for(emulator, api)
    seen = app_token(emulator, api)
    validator.validate(seen)
    new = app_token(emulator, api)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with validator._cache_lock, validator._metadata._lock:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(10)
    before = emulator.counters.snapshot()
    try:
        # the new token takes the cache's lock to be remembered; an unknown kid takes the metadata's
        results = in_children(
            lambda _: [
                validator.validate(seen).client_id,
                validator.validate(new).client_id,
                _refusal(validator, with_header(new, kid="forged"))[:24],
            ]
        )
    finally:
        release.set()
        holder.join(10)

    assert results == [[emulator.app.app_id, emulator.app.app_id, "no published signing key"]]
    assert emulator.counters["entra.jwks"] - before.get("entra.jwks", 0) == 1  # the child's one refetch
    assert emulator.counters["entra.discovery"] == before.get("entra.discovery", 0)  # the rest it had
