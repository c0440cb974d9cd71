"""Key Vault rotation events through Event Grid: a webhook (Event Grid and CloudEvents schemas, both
handshakes, Entra ID protected delivery) whose ``SecretNewVersionCreated`` / ``SecretExpired`` events drop the
secret's cached value in every process of the app, and whose ``SecretNearExpiry`` events call the app's hook.
Built on ``keyvault`` (the caches and their invalidation) and ``validation`` (the token check); ``web`` builds
it from the ``EVENTS`` settings and the adapters serve ``RotationEvents.handle_delivery``.
"""

from ._endpoint import WebhookEndpoint
from ._handshake import EVENT_GRID_ORIGIN
from ._schema import (
    MAX_BODY_BYTES,
    SECRET_EXPIRED,
    SECRET_NEAR_EXPIRY,
    SECRET_NEW_VERSION,
    VALIDATION_EVENT,
    DeliveryRefused,
    Event,
    SecretChange,
    parse_delivery,
)
from ._settings import EVENT_GRID_APP_ID, EVENT_GRID_ROLE, KEYS, EventsSettings, read_events
from ._wiring import RotationEvents, channel_for

__all__ = [
    "EVENT_GRID_APP_ID",
    "EVENT_GRID_ORIGIN",
    "EVENT_GRID_ROLE",
    "KEYS",
    "MAX_BODY_BYTES",
    "SECRET_EXPIRED",
    "SECRET_NEAR_EXPIRY",
    "SECRET_NEW_VERSION",
    "VALIDATION_EVENT",
    "DeliveryRefused",
    "Event",
    "EventsSettings",
    "RotationEvents",
    "SecretChange",
    "WebhookEndpoint",
    "channel_for",
    "parse_delivery",
    "read_events",
]
