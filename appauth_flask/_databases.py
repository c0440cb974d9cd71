"""``appauth.use_token_password(db)``: a Flask-SQLAlchemy app's engines (or any SQLAlchemy engine) sign in to
Azure Database for PostgreSQL / MySQL with this app's Entra ID token (``APPAUTH_*`` identity) as the password.

An explicit call rather than a config key: Flask-SQLAlchemy makes its engines in its own ``init_app``, which
may run before or after ours, so the one moment both exist is after both, which only the app factory knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app

from ._state import services_for

if TYPE_CHECKING:
    from ._extension import AppAuth

T = TypeVar("T")


def use_token_password(appauth: AppAuth, db_or_engine: T, resource: str | None = None) -> T:
    """Make ``db_or_engine`` sign in with the current app's token: a Flask-SQLAlchemy ``SQLAlchemy`` object (all
    of the current app's engines, binds included) or one ``Engine`` / ``AsyncEngine``. Call it in the app
    factory, inside ``app.app_context()``, after ``appauth.init_app(app)`` and ``db.init_app(app)``:

        with app.app_context():
            appauth.use_token_password(db)

    ``resource``: default ``https://ossrdbms-aad.database.windows.net`` (or the sovereign cloud's matching
    ``APPAUTH_AZURE_AD_INSTANCE``). The URIs name the user (the principal's name on the server) and no
    password. Returns ``db_or_engine``. Since 0.2."""
    # SQLAlchemy is an optional extra: imported only by apps that call this.
    from appauth_core.sqlalchemy import use_token_password as use_engine_token_password

    provider = services_for(current_app._get_current_object()).provider  # type: ignore[attr-defined]
    engines: Any = getattr(db_or_engine, "engines", None)
    for engine in engines.values() if engines is not None else [db_or_engine]:
        use_engine_token_password(engine, resource, provider)
    return db_or_engine
