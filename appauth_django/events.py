"""The Event Grid webhook for Key Vault rotation events, as a URL include::

    urlpatterns = [..., path("appauth/events/", include("appauth_django.events"))]

with ``APPAUTH["EVENTS"] = {"AUDIENCE": ..., "TENANT_ID": ...}`` (see docs/rotation-events.md). The view
only hands the request to the core (``RotationEvents.handle_delivery``) and its answer back: the handshakes,
the token check, the limits and the invalidation all happen there. It is CSRF-exempt (Event Grid has no CSRF
token; the bearer token is what authenticates a delivery) and reads at most the core's size limit of the body.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from .conf import get_services, spell


def _webhook(request: HttpRequest) -> HttpResponse:
    """Event Grid's deliveries (``POST``) and CloudEvents' handshake (``OPTIONS``); 404 when ``EVENTS`` is unset."""
    events = get_services().events
    if events is None:
        body = {"error": f"Key Vault rotation events are off: set {spell('EVENTS')} to receive them."}
        return HttpResponse(json.dumps(body), status=404, content_type="application/json")
    content = request.read(events.endpoint.max_body_bytes + 1)
    status, headers, answer = events.handle_delivery(request.method or "", request.headers, content)
    response = HttpResponse(answer, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


# Event Grid signs nothing a CSRF token could be checked against; its bearer token is the check.
webhook = csrf_exempt(_webhook)
urlpatterns = [path("", webhook, name="appauth-events")]
