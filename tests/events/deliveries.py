"""Deliveries as Event Grid sends them, written here from Microsoft's documented samples (not from the
emulator's code), so the webhook and the emulator are each checked against the documents."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated"
NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def secret_event(
    vault_url: str, name: str, *, event_type: str = NEW_VERSION, event_id: str | None = None, **changes: Any
) -> dict[str, Any]:
    """An Event Grid schema Key Vault secret event (``vault_url``: the vault the ``Id`` names)."""
    version = uuid.uuid4().hex
    event = {
        "id": event_id or str(uuid.uuid4()),
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sample-rg/providers/"
        "Microsoft.KeyVault/vaults/sample-kv",
        "subject": name,
        "eventType": event_type,
        "eventTime": now(),
        "data": {
            "Id": f"{vault_url}secrets/{name}/{version}",
            "VaultName": "sample-kv",
            "ObjectType": "Secret",
            "ObjectName ": name,  # sic: Microsoft's sample has the blank
            "Version": version,
            "NBF": "1559081980",
            "EXP": "1559082102",
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }
    event.update(changes)
    return event


def cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema."""
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def event_grid_body(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


def validation_event(code: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000",
        "subject": "",
        "data": {"validationCode": code, "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/validate"},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": now(),
        "metadataVersion": "1",
        "dataVersion": "1",
    }


JSON = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "Notification"}
CLOUD = {"Content-Type": "application/cloudevents+json; charset=utf-8", "WebHook-Request-Origin": "eventgrid.azure.net"}
