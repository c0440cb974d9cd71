"""The demo's one table, through Flask-SQLAlchemy on MariaDB (standing in for Azure Database for MySQL),
signing in with the managed identity's Entra ID token: ``appauth.use_token_password(db)`` in ``create_app``.
Imported only when ``make demo`` started the server (``DEMO_MARIADB_PORT``)."""

from __future__ import annotations

import datetime as dt
import os

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from appauth_core import AppAuthError
from demo_sites.common import VISITS_SHOWN, DatabaseStatus, database_failed


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Visit(db.Model):  # type: ignore[name-defined,misc]
    """One view of the home page: when, and which gunicorn worker served it."""

    __tablename__ = "demo_visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    worker: Mapped[int]


def database_uri() -> str:
    """A user and no password: the token is the password, given at each new connection."""
    user = os.environ["DEMO_DATABASE_USER"]  # the managed identity's name, as the server knows it
    return f"mysql+mysqldb://{user}@127.0.0.1:{os.environ['DEMO_MARIADB_PORT']}/{os.environ['DEMO_DATABASE_NAME']}"


def engine_options() -> dict[str, object]:
    # TLS is required either way; the demo's server has a certificate from the emulator's own CA.
    return {"connect_args": {"ssl": {"ca": os.environ["DEMO_MARIADB_CA"]}}, "pool_pre_ping": True}


def database_status() -> DatabaseStatus:
    """Write a row and read the newest ones, as the managed identity."""
    status = DatabaseStatus(
        "MariaDB", server=f"127.0.0.1:{os.environ['DEMO_MARIADB_PORT']}/{os.environ['DEMO_DATABASE_NAME']}"
    )
    try:
        db.session.add(Visit(worker=os.getpid()))
        db.session.commit()
        status.visits = db.session.query(Visit).count()
        newest = db.session.query(Visit).order_by(Visit.at.desc(), Visit.id.desc()).limit(VISITS_SHOWN)
        status.recent = [{"at": visit.at, "worker": visit.worker} for visit in newest]
        row = db.session.execute(
            text(
                "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), VERSION(), "
                "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version')"
            )
        ).one()
        status.user, status.version, status.tls = row[0], row[1], row[2] or ""
    except (SQLAlchemyError, AppAuthError) as error:  # the page says why instead of failing
        db.session.rollback()
        return database_failed(status, error)
    return status
