"""A Flask API protected by appauth, served for real: ``gunicorn "tests.flask.api_app:create_app()"``.

Configured only through ``FLASK_APPAUTH_API_*`` (and ``FLASK_APPAUTH_DOWNSTREAM_APIS``) environment variables,
as App Service app settings would be. Each page answers with who called (``g.appauth.caller``), so a test
calling it through ``request.appauth.api(...)`` / ``g.appauth.api(...)`` sees that the token was sent and
that this side validated it.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, request

from appauth_flask import AppAuth
from tests.api_support import describe

appauth = AppAuth()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()
    appauth.init_app(app)

    @app.get("/")
    def ready() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.get("/whoami")
    @appauth.require_token
    def whoami() -> dict[str, Any]:
        return describe(g.appauth.caller)

    @app.get("/async/whoami")
    @appauth.require_token
    async def whoami_async() -> dict[str, Any]:
        return describe(g.appauth.caller)

    @app.get("/orders")
    @appauth.require_token(roles="Orders.Read")
    def orders() -> dict[str, Any]:
        return {"orders": [1, 2], **describe(g.appauth.caller)}

    @app.post("/orders")
    @appauth.require_token(roles="Orders.Write")
    def add_order() -> dict[str, Any]:
        return {"added": request.get_json(), **describe(g.appauth.caller)}

    @app.get("/headers")
    def headers() -> dict[str, Any]:
        """Unprotected: whether a bearer token came (never its value), for the host-binding tests."""
        return {"authorization": request.headers.get("Authorization", "").split(" ")[0] or None}

    return app
