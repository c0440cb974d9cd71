"""The webhook itself, framework-neutral: ``handle_delivery(method, headers, body) -> (status, headers, body)``,
which the Django view and the Flask blueprint call with the request's parts and turn back into a response.

In order: ``OPTIONS`` is the CloudEvents abuse-protection handshake (no token needed: consent grants nothing);
a ``POST`` must carry Event Grid's bearer token, valid for the configured audience and tenant and issued to an
allowed client (Event Grid's application) with the required role, before its body is even parsed; then the
body is read (``_schema``): Event Grid's validation event is answered with its code, anything else is
dispatched (``_dispatch``). Answers, as Event Grid reads them:

- 200 with counts: acted on, ignored or replayed (a 4xx would make Event Grid retry or dead-letter it);
- 401/403 (``WWW-Authenticate``): no token, or not Event Grid's; nothing in the body was read;
- 400 malformed, 413 too large, 415 not JSON: Event Grid dead-letters these at once instead of retrying;
- 503: the shared cache or the channel could not be told; Event Grid delivers the event again later;
- 404 when this app does not serve the webhook (``ENDPOINT`` False), 405 for any other method.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..keyvault._invalidation import InvalidationNotShared
from ._dispatch import Dispatcher
from ._handshake import ALLOW, Answer, abuse_protection_answer, validation_code
from ._schema import MAX_BODY_BYTES, DeliveryRefused, parse_delivery

logger = logging.getLogger("appauth_core")

Authenticate = Callable[[str | None], Any]
"""Checks an ``Authorization`` header's value; raises ``TokenValidationError`` (see ``validation``)."""
RefusalOf = Callable[[Exception], "Answer | None"]
"""The answer for what ``Authenticate`` raised (``validation.error_response``), None for anything else."""

JSON = {"Content-Type": "application/json"}


class WebhookEndpoint:
    """One app's Event Grid webhook. ``authenticate`` and ``refusal`` come from the token validator; the
    ``dispatcher`` acts on events; ``allowed_origins`` answer the CloudEvents handshake; ``serving`` False
    answers 404 to everything (the app listens for invalidations but does not receive events)."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(
        self,
        *,
        authenticate: Authenticate,
        refusal: RefusalOf,
        dispatcher: Dispatcher,
        allowed_origins: tuple[str, ...],
        serving: bool = True,
    ) -> None:
        self._authenticate = authenticate
        self._refusal = refusal
        self._dispatcher = dispatcher
        self._origins = allowed_origins
        self._serving = serving

    def handle_delivery(self, method: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The answer to one request to the webhook. ``headers``: any mapping of header names (compared
        case-insensitively) to values; ``body``: at most ``max_body_bytes + 1`` bytes of the request body (one
        more than is read, so that a larger body is told apart)."""
        if not self._serving:
            return _json(404, {"error": "this app does not receive Event Grid deliveries"})
        lowered = {str(name).lower(): str(value) for name, value in headers.items()}
        verb = method.upper()
        if verb == "OPTIONS":
            return abuse_protection_answer(lowered, self._origins)
        if verb != "POST":
            return _json(405, {"error": "Event Grid delivers with POST"}, {"Allow": ALLOW})
        try:
            self._authenticate(lowered.get("authorization"))
        except Exception as exc:
            answer = self._refusal(exc)
            if answer is None:
                raise
            logger.warning("An Event Grid delivery was refused: %s", getattr(exc, "reason", None) or type(exc).__name__)
            return answer
        return self._read(lowered, body)

    def _read(self, headers: Mapping[str, str], body: bytes) -> Answer:
        try:
            events = parse_delivery(headers.get("content-type"), body)
            code = validation_code(events)
        except DeliveryRefused as refused:
            logger.warning("An Event Grid delivery was refused (%s): %s", refused.status, refused)
            return _json(refused.status, {"error": str(refused)})
        if code is not None:
            return _json(200, {"validationResponse": code})
        try:
            outcome = self._dispatcher.dispatch(events)
        except InvalidationNotShared as exc:
            logger.warning("A Key Vault event could not reach the other processes (%s); answering 503 so that "
                           "Event Grid delivers it again", exc)  # fmt: skip
            return _json(
                503, {"error": "the invalidation could not be shared; deliver it again"}, {"Retry-After": "30"}
            )
        return _json(200, outcome.as_json())


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
    return status, {**JSON, **(headers or {})}, json.dumps(body).encode()
