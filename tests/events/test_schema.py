"""Reading deliveries: both schemas as Microsoft documents them, and every limit that refuses a delivery
as a whole with the status Event Grid acts on (400 and 413 are dead-lettered at once, not retried)."""

from __future__ import annotations

import json

import pytest

from appauth_core.events import SECRET_NEW_VERSION, VALIDATION_EVENT, DeliveryRefused, parse_delivery
from tests.events.deliveries import cloud_event, event_grid_body, secret_event, validation_event

VAULT = "https://sample-kv.vault.azure.net/"


def test_microsofts_event_grid_sample_is_read():
    event = secret_event(VAULT, "newsecret")
    [parsed] = parse_delivery("application/json", event_grid_body(event))
    assert (parsed.id, parsed.type, parsed.schema) == (event["id"], SECRET_NEW_VERSION, "EventGridSchema")
    assert parsed.secret is not None
    assert (parsed.secret.vault_name, parsed.secret.name) == ("sample-kv", "newsecret")
    assert parsed.secret.origin is not None and parsed.secret.origin.url == VAULT
    assert parsed.secret.version == event["data"]["Version"]
    assert parsed.secret.expires_on is not None and parsed.secret.expires_on.timestamp() == 1559082102
    assert parsed.time is not None and parsed.time.tzinfo is not None  # seven fractional digits and a Z


def test_cloud_events_single_and_batch_are_read():
    first, second = secret_event(VAULT, "one"), secret_event(VAULT, "two")
    [single] = parse_delivery("application/cloudevents+json; charset=utf-8", json.dumps(cloud_event(first)).encode())
    assert (single.schema, single.secret and single.secret.name) == ("CloudEventSchema", "one")
    batch = json.dumps([cloud_event(first), cloud_event(second)]).encode()
    assert [e.secret and e.secret.name for e in parse_delivery("application/cloudevents-batch+json", batch)] == [
        "one",
        "two",
    ]


def test_other_events_are_read_without_a_secret():
    blob = {"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "x", "eventTime": None, "data": {}}
    [parsed] = parse_delivery("application/json", event_grid_body(blob))
    assert parsed.secret is None and parsed.type == "Microsoft.Storage.BlobCreated"


def test_the_validation_event_gives_its_code():
    [parsed] = parse_delivery("application/json", event_grid_body(validation_event("512d38b6-c7b8")))
    assert (parsed.type, parsed.validation_code) == (VALIDATION_EVENT, "512d38b6-c7b8")


def _refused(content_type: str, body: bytes) -> DeliveryRefused:
    with pytest.raises(DeliveryRefused) as caught:
        parse_delivery(content_type, body)
    return caught.value


@pytest.mark.parametrize(
    ("content_type", "body", "status", "words"),
    [
        ("application/json", b"[" + b" " * 1_048_576 + b"]", 413, "larger than"),
        ("text/plain", b"[]", 415, "expected a JSON delivery"),
        (None, b"[]", 415, "'none'"),
        ("application/json", b"\xff\xfe", 400, "not UTF-8 JSON"),
        ("application/json", b"[{]", 400, "not UTF-8 JSON"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, 400, "not UTF-8 JSON"),  # nesting past the limit
        ("application/json", b"[]", 400, "no event"),
        ("application/json", b'{"id": "1", "eventType": "x"}', 400, "JSON array"),
        ("application/json", b"[1]", 400, "JSON object"),
        ("application/json", b'[{"id": "1"}]', 400, "neither"),
        ("application/json", json.dumps([{"id": "1", "eventType": "x"}] * 5001).encode(), 400, "more than 5000"),
        ("application/json", json.dumps([{"id": "x" * 1025, "eventType": "x"}]).encode(), 400, "'id'"),
        ("application/json", json.dumps([{"id": "1", "eventType": "x", "subject": 3}]).encode(), 400, "'subject'"),
        ("application/json", json.dumps([{"id": "1", "eventType": "x", "eventTime": "soon"}]).encode(), 400, "time"),
        ("application/cloudevents+json", b'{"specversion": "0.3", "id": "1", "type": "x"}', 400, "1.0"),
    ],
)
def test_a_delivery_that_breaks_a_rule_is_refused_whole(content_type, body, status, words):
    refused = _refused(content_type, body)
    assert refused.status == status
    assert words in str(refused)


def test_mixed_schemas_are_refused():
    event = secret_event(VAULT, "one")
    assert "mixes" in str(_refused("application/json", json.dumps([event, cloud_event(event)]).encode()))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"VaultName": "kv", "ObjectName": "bad name!", "ObjectType": "Secret"}, "ObjectName"),
        ({"VaultName": "k v", "ObjectName": "ok", "ObjectType": "Secret"}, "VaultName"),
        ({"VaultName": "kv", "ObjectName": "ok", "ObjectType": "Key"}, "'Secret'"),
        ({"VaultName": "kv", "ObjectName": "ok", "Version": "../x"}, "Version"),
        ({"VaultName": "kv", "ObjectName": "ok", "Id": "http://kv.vault.azure.net/secrets/ok"}, "Id"),
        ({"VaultName": "kv", "ObjectName": "ok", "Id": "https://kv.vault.azure.net/secrets/other/1"}, "different"),
        ({"VaultName": "kv", "ObjectName": "ok", "EXP": "tomorrow"}, "EXP"),
        ("not an object", "'data'"),
    ],
)
def test_a_secret_event_with_bad_data_is_refused(data, words):
    event = {"id": "1", "eventType": SECRET_NEW_VERSION, "subject": "ok", "data": data}
    refused = _refused("application/json", event_grid_body(event))
    assert refused.status == 400 and words in str(refused)


def test_a_validation_event_without_a_code_is_refused():
    event = validation_event("code")
    event["data"] = {"validationCode": 12}
    assert "validationCode" in str(_refused("application/json", event_grid_body(event)))
