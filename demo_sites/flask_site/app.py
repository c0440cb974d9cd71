"""An app as a user would write it for App Service: no credentials anywhere. The vault URL comes from an
app setting; SECRET_KEY is a Key Vault reference that appauth resolves at init_app. The API this app serves
(``APPAUTH_API_*``) and the one it calls (``APPAUTH_DOWNSTREAM_APIS``) come from app settings too, which
``make demo`` sets (demo_sites/run.py registers both APIs in the emulated Entra ID)."""

import os
from urllib.parse import urlsplit

from flask import Flask, abort, g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from appauth_core import RedisSecretCache
from appauth_flask import AppAuth
from demo_sites.common import ADMIN_ROLE, READ_ROLE, caller_answer, database_unavailable, home_page, status
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
    if "DEMO_AUTHORITY" in os.environ:  # set by make demo; the load tests serve /api/status without them
        app.config.update(  # the tokens /api/caller accepts: for this API (App ID URI or client id), this tenant
            APPAUTH_API_AUDIENCE=[os.environ["DEMO_FLASK_API_URI"], os.environ["DEMO_FLASK_API_CLIENT_ID"]],
            APPAUTH_API_TENANT_ID=os.environ["DEMO_TENANT_ID"],
            APPAUTH_API_ALLOWED_CLIENT_IDS=os.environ["DEMO_API_CALLERS"].split(","),  # the Django site's identity
            APPAUTH_API_AUTHORITY=os.environ["DEMO_AUTHORITY"],  # the emulated Entra ID; in Azure, leave it out
            APPAUTH_DOWNSTREAM_APIS={  # g.appauth.api("django-api"): the Django site's API, with our identity
                "django-api": {
                    "BASE_URL": os.environ["DEMO_DJANGO_URL"],
                    "RESOURCE": os.environ["DEMO_DJANGO_API_URI"],
                    "TIMEOUT": 5,
                },
            },
        )
    if "DEMO_EVENTS_AUDIENCE" in os.environ:  # make demo: Key Vault's rotation events, through Event Grid
        app.config.update(  # init_app registers the webhook blueprint at /appauth/events/
            APPAUTH_EVENTS_AUDIENCE=os.environ["DEMO_EVENTS_AUDIENCE"],
            APPAUTH_EVENTS_TENANT_ID=os.environ["DEMO_TENANT_ID"],
            APPAUTH_EVENTS_AUTHORITY=os.environ["DEMO_AUTHORITY"],
        )
    if "DEMO_REDIS_URL" in os.environ:  # the shared cache whose pub/sub channel tells every gunicorn worker
        app.config.update(
            APPAUTH_CACHE=RedisSecretCache(os.environ["DEMO_REDIS_URL"], prefix="appauth-demo-flask:"),
            APPAUTH_CACHE_ENCRYPTION_KEY=os.environ["DEMO_CACHE_KEY"],
        )
    appauth.init_app(app)
    database = "DEMO_MARIADB_PORT" in os.environ  # make demo's MariaDB, standing in for Azure Database for MySQL
    if database:
        from .visits import database_uri, db, engine_options

        app.config.update(SQLALCHEMY_DATABASE_URI=database_uri(), SQLALCHEMY_ENGINE_OPTIONS=engine_options())
        db.init_app(app)
        with app.app_context():
            appauth.use_token_password(db)  # every new connection signs in with the managed identity's token

        @app.cli.command("create-tables")
        def create_tables() -> None:
            """The demo's table (make demo runs this once, before the workers start)."""
            db.create_all()

    @app.get("/")
    def home() -> str:
        page = home_page(g.appauth, appauth.services)
        if database:
            from .visits import database_status

            page.database = database_status()
        else:
            page.database = database_unavailable("MariaDB", "DEMO_MARIADB_UNAVAILABLE")
        return render_template("home.html", page=page, framework="Flask", access="g.appauth")

    @app.get("/api/status")
    def api_status() -> tuple[Response, int]:
        body, code = status(g.appauth)
        return jsonify(body), code

    @app.get("/api/caller")
    @appauth.require_token(roles=READ_ROLE)
    def api_caller() -> Response:
        """Who called, as the validated token says: the Django site's home page shows this answer."""
        return jsonify(caller_answer(g.appauth.caller, "Flask"))

    @app.get("/api/admin")
    @appauth.require_token(roles=ADMIN_ROLE)  # a role the demo's identity does not hold: 403 insufficient_scope
    def api_admin() -> Response:
        return jsonify(caller_answer(g.appauth.caller, "Flask"))

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
