"""The webhook served by a real Flask app over HTTP, driven by the emulator's Event Grid and by requests
written from Microsoft's samples: both handshakes, deliveries that invalidate, and every delivery that
must change nothing (no token, a forged or foreign token, malformed, oversized, replayed, another vault)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest
import requests

from appauth_core.testing import SubscriptionValidationError
from tests.events.deliveries import (
    CLOUD,
    JSON,
    NEAR_EXPIRY,
    cloud_event,
    event_grid_body,
    secret_event,
    validation_event,
)

WEBHOOK = "/appauth/events/"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _name() -> str:
    return f"rotated-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def site(serve_flask, flask_config):
    return serve_flask(**flask_config)


def _token(azure_emulator, webhook_api, tenant_id=None):
    return azure_emulator.event_grid.token(webhook_api.app_id_uri, tenant_id or azure_emulator.tenant_id)


def _post(site, body, headers, token=None):
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(site + WEBHOOK, data=body, headers={**headers, **auth}, timeout=30)


@pytest.mark.parametrize("schema", ["EventGridSchema", "CloudEventSchema"])
def test_a_rotation_delivered_by_event_grid_is_served_at_once(azure_emulator, webhook_api, site, schema):
    name = _name()
    azure_emulator.vault.set_secret(name, "before")
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("before")
    subscription = azure_emulator.subscribe_events(site + WEBHOOK, schema=schema, audience=webhook_api.app_id_uri)
    try:
        azure_emulator.vault.set_secret(name, "after")
        [attempt] = subscription.wait_for(1)
    finally:
        subscription.close()
    assert attempt.status == 200
    assert json.loads(attempt.body) == {"invalidated": 1, "hooked": 0, "ignored": 0, "replayed": 0}
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("after")


def test_event_grid_schema_handshake_echoes_the_code(azure_emulator, webhook_api, site):
    answer = _post(site, event_grid_body(validation_event("512d38b6-c7b8-40c8")), {**JSON, "aeg-event-type":
                   "SubscriptionValidation"}, _token(azure_emulator, webhook_api))  # fmt: skip
    assert (answer.status_code, answer.json()) == (200, {"validationResponse": "512d38b6-c7b8-40c8"})


def test_event_grid_schema_handshake_needs_event_grids_token(site):
    answer = _post(site, event_grid_body(validation_event("512d38b6")), JSON)
    assert answer.status_code == 401
    assert "validationResponse" not in answer.text


def test_cloud_events_handshake_allows_event_grid_only(site):
    allowed = requests.options(site + WEBHOOK, headers={"WebHook-Request-Origin": "eventgrid.azure.net",
                                                        "WebHook-Request-Rate": "120"}, timeout=30)  # fmt: skip
    assert allowed.status_code == 200
    assert allowed.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert allowed.headers["WebHook-Allowed-Rate"] == "120"
    assert "POST" in allowed.headers["Allow"]
    for odd in ("\u00b2", "0", "-5", "9" * 40, "12 34"):  # "\u00b2".isdigit() is True, and int() refuses it
        unlimited = requests.options(site + WEBHOOK, headers={"WebHook-Request-Origin": "eventgrid.azure.net",
                                                              "WebHook-Request-Rate": odd}, timeout=30)  # fmt: skip
        assert (unlimited.status_code, unlimited.headers["WebHook-Allowed-Rate"]) == (200, "*"), odd
    other = requests.options(site + WEBHOOK, headers={"WebHook-Request-Origin": "evil.example"}, timeout=30)
    assert other.status_code == 403 and "WebHook-Allowed-Origin" not in other.headers
    assert requests.options(site + WEBHOOK, timeout=30).status_code == 400


def test_the_emulator_refuses_a_webhook_that_does_not_answer_the_handshake(azure_emulator, webhook_api, site):
    with pytest.raises(SubscriptionValidationError) as caught:
        azure_emulator.subscribe_events(site + "/secret/x", audience=webhook_api.app_id_uri)
    assert caught.value.status == 405


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["appid"] = "00000000-0000-0000-0000-000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("forge", "status"),
    [
        ("none", 401),
        ("not bearer", 401),
        ("wrong audience", 401),
        ("another tenant", 401),
        ("another caller", 401),
        ("tampered", 401),
    ],
)
def test_a_delivery_without_event_grids_token_changes_nothing(azure_emulator, webhook_api, site, forge, status):
    name = _name()
    azure_emulator.vault.set_secret(name, "cached")
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("cached")
    azure_emulator.vault.set_secret(name, "rotated, unannounced")
    good = _token(azure_emulator, webhook_api)
    headers = dict(JSON)
    if forge == "not bearer":
        headers["Authorization"] = "Basic " + base64.b64encode(b"user:pass").decode()
    elif forge == "wrong audience":
        headers["Authorization"] = "Bearer " + azure_emulator.event_grid.token(
            "api://not-this-app", azure_emulator.tenant_id
        )
    elif forge == "another tenant":
        headers["Authorization"] = "Bearer " + _token(
            azure_emulator, webhook_api, azure_emulator.add_tenant().tenant_id
        )
    elif forge == "another caller":  # the app's own service principal, even holding the role, is not Event Grid
        azure_emulator.assign_role(webhook_api, azure_emulator.app, "AzureEventGridSecureWebhookSubscriber")
        headers["Authorization"] = "Bearer " + azure_emulator.issue_token(webhook_api.app_id_uri).access_token
    elif forge == "tampered":
        headers["Authorization"] = "Bearer " + _tampered(good)
    azure_emulator.counters.reset()
    answer = _post(site, event_grid_body(secret_event(azure_emulator.vault.url, name)), headers)
    assert answer.status_code == status
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("cached")
    assert azure_emulator.counters["keyvault.local.get_secret"] == 0


def test_event_grid_without_the_role_is_refused(azure_emulator, serve_flask, flask_config):
    api = azure_emulator.register_api(
        f"api://no-role-{uuid.uuid4().hex[:8]}", roles=("AzureEventGridSecureWebhookSubscriber",)
    )
    site = serve_flask(**{**flask_config, "APPAUTH_EVENTS_AUDIENCE": api.app_id_uri})
    answer = _post(site, event_grid_body(secret_event(azure_emulator.vault.url, _name())), JSON,
                   azure_emulator.event_grid.token(api.app_id_uri, azure_emulator.tenant_id))  # fmt: skip
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"[" + b" " * 2_000_000 + b"]", JSON, 413),
        (b"not json", JSON, 400),
        (b"[]", {"Content-Type": "text/plain"}, 415),
        (b'[{"id": "1", "eventType": "Microsoft.KeyVault.SecretNewVersionCreated", "data": {"ObjectName": "x"}}]',
         JSON, 400),
    ],
)  # fmt: skip
def test_a_malformed_or_oversized_delivery_changes_nothing(azure_emulator, webhook_api, site, body, headers, status):
    answer = _post(site, body, headers, _token(azure_emulator, webhook_api))
    assert answer.status_code == status
    assert "error" in answer.json()


def test_a_replayed_event_is_acted_on_once(azure_emulator, webhook_api, site):
    name = _name()
    azure_emulator.vault.set_secret(name, "first")
    requests.get(f"{site}/secret/{name}", timeout=30)
    azure_emulator.vault.set_secret(name, "second")
    event = secret_event(azure_emulator.vault.url, name)
    token = _token(azure_emulator, webhook_api)
    assert _post(site, event_grid_body(event), JSON, token).json()["invalidated"] == 1
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("second")
    azure_emulator.vault.set_secret(name, "third, unannounced")
    replay = _post(site, event_grid_body(event), JSON, token)
    assert (replay.status_code, replay.json()["replayed"]) == (200, 1)  # acknowledged: Event Grid must not retry
    replay_as_cloud_event = _post(site, json.dumps(cloud_event(event)).encode(), CLOUD, token)
    assert replay_as_cloud_event.json()["replayed"] == 1
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("second")


def test_an_event_older_than_event_grids_retries_is_not_acted_on(azure_emulator, webhook_api, site):
    name = _name()
    azure_emulator.vault.set_secret(name, "kept")
    requests.get(f"{site}/secret/{name}", timeout=30)
    azure_emulator.vault.set_secret(name, "newer")
    old = secret_event(azure_emulator.vault.url, name, eventTime="2019-07-25T01:08:33.1036736Z")
    assert _post(site, event_grid_body(old), JSON, _token(azure_emulator, webhook_api)).json()["replayed"] == 1
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("kept")


def test_events_for_other_vaults_and_objects_are_acknowledged_and_ignored(azure_emulator, webhook_api, site):
    name = _name()
    azure_emulator.vault.set_secret(name, "kept")
    requests.get(f"{site}/secret/{name}", timeout=30)
    azure_emulator.vault.set_secret(name, "newer")
    other_vault = secret_event("https://another-kv.vault.azure.net/", name)
    no_id = secret_event(azure_emulator.vault.url, name)
    del no_id["data"]["Id"]  # VaultName 'sample-kv' is not the emulator's vault
    key = {"id": str(uuid.uuid4()), "eventType": "Microsoft.KeyVault.KeyNewVersionCreated", "subject": name,
           "data": {"VaultName": "sample-kv", "ObjectName": name, "ObjectType": "Key"}}  # fmt: skip
    answer = _post(site, event_grid_body(other_vault, no_id, key), JSON, _token(azure_emulator, webhook_api))
    assert answer.json() == {"invalidated": 0, "hooked": 0, "ignored": 3, "replayed": 0}
    assert requests.get(f"{site}/secret/{name}", timeout=30).json()["sha256"] == _sha("kept")


near_expiry_calls: list = []


def record_near_expiry(change) -> None:
    near_expiry_calls.append(change)


def test_near_expiry_calls_the_apps_hook(azure_emulator, webhook_api, serve_flask, flask_config):
    site = serve_flask(**flask_config, APPAUTH_EVENTS_NEAR_EXPIRY_HOOK=f"{__name__}.record_near_expiry")
    name = _name()
    near_expiry_calls.clear()
    event = secret_event(azure_emulator.vault.url, name, event_type=NEAR_EXPIRY)
    answer = _post(site, event_grid_body(event), JSON, _token(azure_emulator, webhook_api))
    assert answer.json()["hooked"] == 1
    [change] = near_expiry_calls
    assert (change.name, change.version, change.expires_on.timestamp()) == (name, event["data"]["Version"], 1559082102)


def test_other_methods_are_not_allowed(site):
    answer = requests.get(site + WEBHOOK, timeout=30)
    assert answer.status_code == 405
