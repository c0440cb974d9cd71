"""Reading an Event Grid delivery: the Event Grid schema (a JSON array of ``{id, eventType, subject, eventTime,
data, dataVersion, metadataVersion, topic}``) and the CloudEvents 1.0 schema in structured mode (one
``application/cloudevents+json`` object, or an ``application/cloudevents-batch+json`` array of
``{specversion, id, type, source, subject, time, data}``), both as Event Grid delivers Key Vault's events.

Everything a delivery holds is bounded before anything is done with it: the body's size (Event Grid's largest
event is 1 MB), the number of events (Event Grid batches at most 5,000), every string a field may hold, and the
JSON's nesting. A delivery that breaks a rule is refused as a whole (``DeliveryRefused``), never partly read:
Event Grid dead-letters a 400 or 413 at once instead of retrying it.

Key Vault's event data names the secret three ways (``Id``, the secret's address; ``VaultName``;
``ObjectName``): the keys are read case-insensitively and trimmed, since Microsoft's own sample shows
``"ObjectName "`` with a trailing blank.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..tokens._secret_uri import SecretUriError, parse_secret_uri
from ..tokens._vault_hosts import VaultOrigin

Schema = Literal["EventGridSchema", "CloudEventSchema"]

MAX_BODY_BYTES = 1_048_576
"""Event Grid's largest event (1 MB); a batch is cut near its preferred size, at most 1,024 KB."""
MAX_EVENTS = 5_000  # Event Grid's largest batch (max-events-per-batch)
MAX_FIELD = 1_024  # id, type, subject, source, topic: Event Grid's own are GUIDs and resource paths
MAX_CODE = 256  # a validation code is a GUID

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
SECRET_NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated"
SECRET_NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
SECRET_EXPIRED = "Microsoft.KeyVault.SecretExpired"
SECRET_EVENTS = frozenset({SECRET_NEW_VERSION, SECRET_NEAR_EXPIRY, SECRET_EXPIRED})

_JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")
_SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_VAULT_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")  # Key Vault's are 3-24 characters; the emulator's are freer
_VERSION = re.compile(r"^[0-9a-zA-Z]{1,64}$")


class DeliveryRefused(Exception):
    """The delivery is not one this endpoint reads. ``status`` is the HTTP answer (400 malformed, 413 too
    large, 415 not JSON); the message says what was wrong, never what the body held."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SecretChange:
    """What a Key Vault secret event says: the vault (``origin`` from the event's ``Id`` when it has one,
    else only ``vault_name``), the secret's ``name``, the ``version`` the event is about, and its expiry."""

    vault_name: str
    name: str
    origin: VaultOrigin | None = None
    version: str | None = None
    expires_on: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """One event of a delivery. ``secret`` is set for Key Vault's secret events (``SECRET_EVENTS``);
    ``validation_code`` for Event Grid's subscription validation event."""

    id: str
    type: str
    schema: Schema
    time: dt.datetime | None
    secret: SecretChange | None = None
    validation_code: str | None = None


def parse_delivery(content_type: str | None, body: bytes) -> list[Event]:
    """The events of one delivery, in order; ``DeliveryRefused`` for a body that is too large, not JSON, not
    one of the two schemas, or mixes them."""
    if len(body) > MAX_BODY_BYTES:
        raise DeliveryRefused(413, f"the delivery is larger than {MAX_BODY_BYTES} bytes")
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        shown = (media or "none")[:80]
        raise DeliveryRefused(415, f"expected a JSON delivery ({', '.join(_JSON_TYPES)}), got {shown!r}")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DeliveryRefused(400, "the delivery is not UTF-8 JSON") from None
    items = document if isinstance(document, list) else [document]
    if isinstance(document, dict) and media != "application/cloudevents+json":
        raise DeliveryRefused(400, "an Event Grid delivery is a JSON array of events")
    if not items:
        raise DeliveryRefused(400, "the delivery holds no event")
    if len(items) > MAX_EVENTS:
        raise DeliveryRefused(400, f"the delivery holds more than {MAX_EVENTS} events")
    if not all(isinstance(item, dict) for item in items):
        raise DeliveryRefused(400, "every event must be a JSON object")
    schemas = {_schema_of(item) for item in items}
    if len(schemas) != 1:
        raise DeliveryRefused(400, "the delivery mixes the Event Grid and CloudEvents schemas")
    schema = schemas.pop()
    return [_event(item, schema, index) for index, item in enumerate(items)]


def _schema_of(item: Mapping[str, Any]) -> Schema:
    if "specversion" in item:
        if item["specversion"] != "1.0":
            raise DeliveryRefused(400, "only CloudEvents specversion 1.0 is read")
        return "CloudEventSchema"
    if "eventType" in item:
        return "EventGridSchema"
    raise DeliveryRefused(400, "an event has neither 'eventType' (Event Grid) nor 'specversion' (CloudEvents)")


def _event(item: Mapping[str, Any], schema: Schema, index: int) -> Event:
    names = ("eventType", "eventTime") if schema == "EventGridSchema" else ("type", "time")
    event_id = _text(item, "id", index, MAX_FIELD)
    event_type = _text(item, names[0], index, MAX_FIELD)
    when = _time(item.get(names[1]), index)
    for optional in ("subject", "topic", "source", "dataVersion", "metadataVersion"):
        if optional in item and not _short_text(item[optional], MAX_FIELD):
            raise DeliveryRefused(
                400, f"event {index}: {optional!r} must be a string of at most {MAX_FIELD} characters"
            )
    data = item.get("data")
    if event_type == VALIDATION_EVENT:
        code = _field(data, "validationCode")
        if not _short_text(code, MAX_CODE) or not code:
            raise DeliveryRefused(400, f"event {index}: the validation event has no usable 'data.validationCode'")
        return Event(event_id, event_type, schema, when, validation_code=code)
    secret = _secret_change(data, index) if event_type in SECRET_EVENTS else None
    return Event(event_id, event_type, schema, when, secret=secret)


def _secret_change(data: Any, index: int) -> SecretChange:
    if not isinstance(data, dict):
        raise DeliveryRefused(400, f"event {index}: a Key Vault event's 'data' must be an object")
    if str(_field(data, "ObjectType") or "Secret").lower() != "secret":
        raise DeliveryRefused(400, f"event {index}: a secret event must be about an object of type 'Secret'")
    vault_name, name, version = _field(data, "VaultName"), _field(data, "ObjectName"), _field(data, "Version")
    if not isinstance(vault_name, str) or not _VAULT_NAME.fullmatch(vault_name.strip()):
        raise DeliveryRefused(400, f"event {index}: 'data.VaultName' is not a vault name")
    if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name.strip()):
        raise DeliveryRefused(400, f"event {index}: 'data.ObjectName' is not a Key Vault secret name")
    if version is not None and (not isinstance(version, str) or not _VERSION.fullmatch(version.strip())):
        raise DeliveryRefused(400, f"event {index}: 'data.Version' is not a secret version")
    origin = _origin(_field(data, "Id"), name.strip(), index)
    return SecretChange(
        vault_name.strip().lower(),
        name.strip(),
        origin,
        version.strip() if isinstance(version, str) else None,
        _epoch(_field(data, "EXP"), index),
    )


def _origin(secret_id: Any, name: str, index: int) -> VaultOrigin | None:
    if secret_id is None:
        return None
    if not _short_text(secret_id, MAX_FIELD):
        raise DeliveryRefused(400, f"event {index}: 'data.Id' must be a string of at most {MAX_FIELD} characters")
    try:
        address = parse_secret_uri(secret_id)
    except SecretUriError:
        raise DeliveryRefused(400, f"event {index}: 'data.Id' is not a secret's address") from None
    if address.name.lower() != name.lower():
        raise DeliveryRefused(400, f"event {index}: 'data.Id' and 'data.ObjectName' name different secrets")
    return address.origin


def _field(data: Any, name: str) -> Any:
    """``data[name]``, the key compared case-insensitively and trimmed (see the module docstring)."""
    if not isinstance(data, dict):
        return None
    wanted = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.strip().lower() == wanted:
            return value
    return None


def _text(item: Mapping[str, Any], name: str, index: int, limit: int) -> str:
    value = item.get(name)
    if not _short_text(value, limit) or not value:
        raise DeliveryRefused(400, f"event {index}: {name!r} must be a non-empty string of at most {limit} characters")
    return str(value)


def _short_text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _time(value: Any, index: int) -> dt.datetime | None:
    if value is None:
        return None
    if not _short_text(value, 64):
        raise DeliveryRefused(400, f"event {index}: the event time must be an RFC 3339 string")
    text = value.strip()
    # Event Grid writes 7 fractional digits (2019-07-25T01:08:33.1036736Z), which fromisoformat refuses before 3.11
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DeliveryRefused(400, f"event {index}: the event time is not an RFC 3339 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def _epoch(value: Any, index: int) -> dt.datetime | None:
    """``EXP``/``NBF``: seconds since 1970 as a number or a string of digits (Microsoft's sample has both)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 20:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 253_402_300_800:
        raise DeliveryRefused(400, f"event {index}: 'data.EXP' is not a time in seconds since 1970")
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)
