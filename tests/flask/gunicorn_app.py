"""The Flask app the gunicorn tests serve: ``gunicorn "tests.flask.gunicorn_app:create_app()"``.

Configured only through ``FLASK_*`` environment variables, as App Service app settings would be. Pages show
a SHA-256 of a secret, never the secret, so a test can prove the value was read without a page holding it.
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, g, render_template_string
from flask_caching import Cache

from appauth_flask import AppAuth

appauth = AppAuth()
cache = Cache()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()
    if app.config.get("CACHE_TYPE"):
        cache.init_app(app)
        app.config["APPAUTH_CACHE"] = cache
    appauth.init_app(app)

    @app.get("/")
    def ready() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.get("/whoami")
    def whoami() -> dict[str, str | None]:
        g.appauth.get_access_token("https://storage.azure.com/")
        principal = g.appauth.principal
        return {"app_id": principal.app_id if principal else None}

    @app.get("/secret/<name>")
    def secret(name: str) -> dict[str, str]:
        return {"sha256": _digest(g.appauth.secret(name))}

    @app.get("/async/secret/<name>")
    async def secret_async(name: str) -> dict[str, str]:
        await g.appauth.get_access_token_async("https://vault.azure.net")
        return {"sha256": _digest(await g.appauth.secret_async(name))}

    @app.get("/config/<key>")
    def config_value(key: str) -> dict[str, str]:
        return {"sha256": _digest(str(current_app.config[key]))}

    @app.get("/banner/<name>")
    def banner(name: str) -> str:
        return render_template_string("<p>{{ keyvault_secret(name) }}</p>", name=name)

    return app


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
