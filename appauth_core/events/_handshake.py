"""The two ways Event Grid asks a webhook whether it wants events before it sends any.

- Event Grid schema: a POST of one ``Microsoft.EventGrid.SubscriptionValidationEvent`` (header
  ``aeg-event-type: SubscriptionValidation``) whose ``data.validationCode`` the endpoint echoes as
  ``{"validationResponse": code}`` with status 200 (Event Grid does not take a 202 as an answer).
- CloudEvents 1.0 (HTTP webhook spec, section 4, "Abuse protection"): an ``OPTIONS`` request with
  ``WebHook-Request-Origin: eventgrid.azure.net`` (and maybe ``WebHook-Request-Rate``); consent is the
  ``WebHook-Allowed-Origin`` header naming that origin, with ``WebHook-Allowed-Rate``. Without consent the
  answer carries neither header (the spec says a status code cannot be relied on) and is a 403 here.

Consent is not access: deliveries are still checked one by one (the bearer token, see ``_endpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._schema import VALIDATION_EVENT, DeliveryRefused, Event

EVENT_GRID_ORIGIN = "eventgrid.azure.net"  # what Event Grid sends as WebHook-Request-Origin
ALLOW = "POST, OPTIONS"

Answer = tuple[int, dict[str, str], bytes]


def abuse_protection_answer(headers: Mapping[str, str], allowed_origins: Sequence[str]) -> Answer:
    """The answer to a CloudEvents ``OPTIONS`` validation request (``headers`` with lower-case names)."""
    origin = headers.get("webhook-request-origin", "").strip()
    if not origin:
        return 400, {"Allow": ALLOW}, b'{"error": "WebHook-Request-Origin is missing"}'
    if origin.lower() not in {allowed.lower() for allowed in allowed_origins}:
        return 403, {"Allow": ALLOW}, b'{"error": "this origin may not deliver events here"}'
    rate = headers.get("webhook-request-rate", "").strip()
    # We grant what is asked (Event Grid is trusted); isascii: "²".isdigit() is True, and int() refuses it.
    allowed_rate = rate if rate.isascii() and rate.isdigit() and len(rate) <= 9 and int(rate) > 0 else "*"
    return 200, {"Allow": ALLOW, "WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": allowed_rate}, b""


def validation_code(events: Sequence[Event]) -> str | None:
    """The code to echo when ``events`` is Event Grid's subscription validation, else None. Event Grid sends
    the validation event alone; one in a batch with other events is refused."""
    codes = [event.validation_code for event in events if event.type == VALIDATION_EVENT]
    if not codes:
        return None
    if len(events) != 1 or codes[0] is None:
        raise DeliveryRefused(400, "a subscription validation event comes alone")
    return codes[0]
