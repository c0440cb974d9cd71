"""A Flask app with Flask-SQLAlchemy whose engines (the default one and a bind) sign in as the app's managed
identity through ``appauth.use_token_password(db)``: requests write and read a row through each server."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from appauth_core import AppAuthNotInitialisedError
from appauth_flask import AppAuth

from .conftest import SYSTEM_IDENTITY_USER, Databases
from .test_sqlalchemy import url


def make_app(databases: Databases) -> tuple[Flask, SQLAlchemy]:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url(databases, "postgresql+psycopg")
    app.config["SQLALCHEMY_BINDS"] = {
        "mariadb": {
            "url": url(databases, "mysql+pymysql"),
            "connect_args": {"ssl": ssl.create_default_context(cafile=str(databases.mariadb.tls.ca_path))},
            "pool_pre_ping": True,
        }
    }
    appauth = AppAuth(app)
    db = SQLAlchemy(app)

    class Visit(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "flask_visits"
        id = db.Column(db.Integer, primary_key=True)
        where = db.Column(db.String(50))

    class Count(db.Model):  # type: ignore[name-defined,misc]
        __bind_key__ = "mariadb"
        __tablename__ = "flask_counts"
        id = db.Column(db.Integer, primary_key=True)

    with app.app_context():
        appauth.use_token_password(db)
        db.create_all()

    @app.get("/visit")
    def visit() -> Any:
        db.session.add(Visit(where="postgresql"))
        db.session.add(Count())
        db.session.commit()
        users = {
            "postgresql": db.session.execute(text("SELECT current_user")).scalar(),
            "mariadb": db.session.execute(
                text("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"), bind_arguments={"bind": db.engines["mariadb"]}
            ).scalar(),
        }
        return jsonify(visits=db.session.query(Visit).count(), counts=db.session.query(Count).count(), users=users)

    return app, db


def test_requests_write_and_read_through_both_engines(databases: Databases, azure_emulator_env: Any) -> None:
    app, db = make_app(databases)
    client = app.test_client()
    first = client.get("/visit").get_json()
    second = client.get("/visit").get_json()
    assert first["users"] == {"postgresql": SYSTEM_IDENTITY_USER, "mariadb": SYSTEM_IDENTITY_USER}
    assert second["visits"] == first["visits"] + 1
    assert second["counts"] == first["counts"] + 1
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def test_needs_appauth_on_the_app(databases: Databases, azure_emulator_env: Any) -> None:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url(databases, "postgresql+psycopg")
    db = SQLAlchemy(app)
    with app.app_context(), pytest.raises(AppAuthNotInitialisedError):
        AppAuth().use_token_password(db)
