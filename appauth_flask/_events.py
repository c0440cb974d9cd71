"""The Event Grid webhook for Key Vault rotation events, as a blueprint ``AppAuth.init_app`` registers at
``/appauth/events/`` when ``APPAUTH_EVENTS_AUDIENCE`` (and the other ``APPAUTH_EVENTS_*`` keys) are set and
``APPAUTH_EVENTS_ENDPOINT`` is not False. The view only hands the request to the core
(``RotationEvents.handle_delivery``) and its answer back, reading at most the core's size limit of the body.
With Flask-WTF's ``CSRFProtect``, exempt the blueprint: ``csrf.exempt(app.blueprints["appauth_events"])``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request

from appauth_core import AppAuthServices

from ._state import services_for

URL = "/appauth/events/"
BLUEPRINT = "appauth_events"


def register_events(app: Flask, services: AppAuthServices) -> None:
    """Register the webhook on ``app`` when its events are configured and it serves them."""
    if services.events is None or not services.events.settings.endpoint:
        return
    blueprint = Blueprint(BLUEPRINT, __name__)
    blueprint.add_url_rule(URL, "webhook", _webhook, methods=["POST", "OPTIONS"], provide_automatic_options=False)
    app.register_blueprint(blueprint)


def _webhook() -> Response:
    events = services_for(current_app).events
    assert events is not None, "registered only when events are configured"
    body = request.stream.read(events.endpoint.max_body_bytes + 1)
    status, headers, answer = events.handle_delivery(request.method, request.headers, body)
    return Response(answer, status=status, headers=headers)
