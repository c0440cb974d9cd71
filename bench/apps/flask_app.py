"""A small Flask app, with or without the ``AppAuth`` extension: ``gunicorn flask_app:app``."""

from __future__ import annotations

from pathlib import Path

from bench_env import CONSTANT, SECRET_NAME, VAULT_URL, WITH_APPAUTH
from flask import Flask, g, render_template


def create_app() -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).resolve().parent / "flask_templates"))

    @app.get("/bare")
    def bare() -> tuple[str, int, dict[str, str]]:
        return CONSTANT, 200, {"Content-Type": "text/plain"}

    @app.get("/bare-template")
    def bare_template() -> str:
        return render_template("bare.html", value=CONSTANT)

    if WITH_APPAUTH:
        from appauth_flask import AppAuth

        app.config.update(APPAUTH_KEY_VAULT_URL=VAULT_URL, APPAUTH_TEMPLATE_SECRETS=[SECRET_NAME])
        AppAuth(app)

        @app.get("/secret")
        def secret() -> tuple[str, int, dict[str, str]]:
            return g.appauth.secret(SECRET_NAME), 200, {"Content-Type": "text/plain"}

        @app.get("/secret-template")
        def secret_template() -> str:
            return render_template("secret.html", name=SECRET_NAME)

    return app


app = create_app()
