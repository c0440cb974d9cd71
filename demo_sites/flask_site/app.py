"""An app as a user would write it for App Service: no credentials anywhere. The vault URL comes from an
app setting; SECRET_KEY is a Key Vault reference that appauth resolves at init_app."""

import os
from urllib.parse import urlsplit

from flask import Flask, abort, g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from appauth_flask import AppAuth
from demo_sites.common import home_page, status
from demo_sites.common import rotate as rotate_greeting

appauth = AppAuth()


def create_app() -> Flask:
    app = Flask(__name__)
    vault_url = os.environ["DEMO_VAULT_URL"]  # e.g. https://myvault.vault.azure.net/ (the emulator's, in the demo)
    app.config.update(
        SECRET_KEY=f"@Microsoft.KeyVault(SecretUri={vault_url}secrets/flask-secret-key)",
        APPAUTH_KEY_VAULT_URL=vault_url,
        APPAUTH_TEMPLATE_SECRETS=["public-banner"],  # the only secret templates may show
        APPAUTH_SECRET_CACHE_SECONDS=int(os.environ.get("DEMO_SECRET_CACHE_SECONDS", "300")),
    )
    appauth.init_app(app)

    @app.get("/")
    def home() -> str:
        page = home_page(g.appauth, appauth.services)
        return render_template("home.html", page=page, framework="Flask", access="g.appauth")

    @app.get("/api/status")
    def api_status() -> tuple[Response, int]:
        body, code = status(g.appauth)
        return jsonify(body), code

    @app.post("/rotate")
    def rotate() -> Response:
        # No form library here: a same-origin check stands in for a CSRF token.
        origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if urlsplit(origin).netloc != request.host:
            abort(403)
        rotate_greeting(appauth.services)
        return redirect("/?rotated=1")

    return app


app = create_app()
