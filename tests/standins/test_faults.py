"""Fault injection and request counters, observed through real clients."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets import SecretClient

from appauth_core.testing import Fault
from appauth_core.testing._faults import FaultInjector


@pytest.fixture
def http(azure_emulator):
    session = requests.Session()
    session.trust_env = False
    session.verify = str(azure_emulator.ca_path)
    return session


@pytest.fixture
def imds(azure_emulator, http):
    url = azure_emulator.managed_identity_url + "/metadata/identity/oauth2/token"

    def call(**kwargs):
        return http.get(
            url,
            params={"api-version": "2018-02-01", "resource": "https://vault.azure.net"},
            headers={"Metadata": "true"},
            **kwargs,
        )

    return call


def test_status_body_and_headers_for_the_next_n(azure_emulator, imds):
    azure_emulator.faults.inject(
        "mi.imds", status=429, body={"error": "throttled"}, headers={"Retry-After": "3"}, times=2
    )
    replies = [imds() for _ in range(3)]
    assert [r.status_code for r in replies] == [429, 429, 200]
    assert replies[0].json() == {"error": "throttled"}
    assert replies[1].headers["Retry-After"] == "3"
    assert azure_emulator.counters["mi.imds"] == 3


def test_prefix_covers_every_endpoint_below_it(azure_emulator, http):
    azure_emulator.faults.inject("keyvault", status=503)
    assert http.get(azure_emulator.vault.url + "secrets/x/").status_code == 503
    assert http.get(azure_emulator.vault.url + "secrets/x/").status_code == 401  # the real challenge again
    assert azure_emulator.counters["keyvault"] == azure_emulator.counters["keyvault.local.challenge"] == 2


def test_truncated_body_breaks_the_client_read(azure_emulator, imds):
    azure_emulator.faults.inject("mi.imds", truncate=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        imds()
    assert imds().status_code == 200


def test_garbage_body_is_not_json(azure_emulator, imds):
    azure_emulator.faults.inject("mi.imds", garbage=True)
    reply = imds()
    assert reply.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        reply.json()


def test_delay_trips_a_client_timeout(azure_emulator, imds):
    azure_emulator.faults.inject("mi.imds", delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        imds(timeout=0.2)


def test_secret_client_retries_a_throttled_read_honouring_retry_after(azure_emulator, azure_emulator_env):
    from azure.identity import ClientSecretCredential

    azure_emulator.vault.set_secret("throttled", "eventually")
    credential = ClientSecretCredential(
        azure_emulator.tenant_id,
        azure_emulator.app.app_id,
        azure_emulator.app.secrets[0],
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    client = SecretClient(azure_emulator.vault.url, credential, verify_challenge_resource=False)
    azure_emulator.faults.inject(
        "keyvault.local.get_secret",
        status=429,
        headers={"Retry-After": "0"},
        body={"error": {"code": "Throttled", "message": "VaultRequestTypeLimitReached"}},
    )
    assert client.get_secret("throttled").value == "eventually"
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2
    azure_emulator.faults.inject(
        "keyvault.local.get_secret", status=403, body={"error": {"code": "Forbidden", "message": "injected"}}
    )
    with pytest.raises(HttpResponseError, match="injected"):
        client.get_secret("throttled")


def test_control_api_needs_its_key(azure_emulator, http):
    from appauth_core.testing._control import CONTROL_KEY_HEADER

    assert http.get(azure_emulator.control_url + "counters").status_code == 401
    key = {CONTROL_KEY_HEADER: azure_emulator.control.key}
    created = http.post(
        azure_emulator.control_url + "faults", json={"endpoint": "entra.token", "status": 500}, headers=key
    )
    assert created.status_code == 201
    assert http.get(azure_emulator.control_url + "faults", headers=key).json() == [
        {"endpoint": "entra.token", "status": 500, "times": 1}
    ]
    bad = http.post(azure_emulator.control_url + "faults", json={"endpoint": "x", "stauts": 500}, headers=key)
    assert bad.status_code == 400 and "stauts" in bad.json()["error"]


def test_fault_validation():
    with pytest.raises(ValueError, match="times"):
        Fault(times=0)
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    injector = FaultInjector()
    with pytest.raises(TypeError):
        injector.inject("x", Fault(), status=500)
