"""The Flask app the rotation-event tests serve, in-process or under gunicorn
(``gunicorn "tests.events.flask_site:create_app()"``), configured only through ``FLASK_*`` environment
variables (``app.config.from_prefixed_env``) as App Service app settings would. ``/secret/<name>`` answers the
worker's pid and a SHA-256 of the secret, never the secret."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, g

from appauth_core import RedisSecretCache
from appauth_flask import AppAuth

appauth = AppAuth()


def create_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()
    app.config.update(config)
    redis_url = app.config.pop("EVENTS_TEST_REDIS_URL", None)
    if redis_url:
        app.config["APPAUTH_CACHE"] = RedisSecretCache(redis_url, prefix=app.config.pop("EVENTS_TEST_PREFIX"))
    appauth.init_app(app)

    @app.get("/")
    def ready() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.get("/secret/<name>")
    def secret(name: str) -> dict[str, Any]:
        return {"pid": os.getpid(), "sha256": hashlib.sha256(g.appauth.secret(name).encode()).hexdigest()}

    return app
