"""Entra ID tokens as the password of a SQLAlchemy engine (and so of Flask-SQLAlchemy's):

    from sqlalchemy import create_engine
    from appauth_core.sqlalchemy import use_token_password

    engine = use_token_password(create_engine("postgresql+psycopg://my-app-identity@myserver.postgres.database.azure.com/app"))

Every new connection (the pool's, ``pool_pre_ping``'s reconnects, an async engine's) signs in with a token
from the process-wide cache, so connections opened after a refresh use the new token and none costs an Entra
request. Drivers: psycopg (sync and async), psycopg2, mysqlclient, PyMySQL and aiomysql.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .databases import (
    MYSQL,
    POSTGRESQL,
    TokenPassword,
    connect_with_token,
    require_mysqlclient_tls,
    require_postgresql_tls,
    require_pymysql_tls,
)
from .errors import ConfigError
from .tokens import AzureServiceTokenProvider

__all__ = ["use_token_password"]

E = TypeVar("E")

# driver -> (server kind, the keyword its connect takes the password as, what TLS it must use)
_DRIVERS: dict[str, tuple[str, str, Callable[[MutableMapping[str, Any]], None]]] = {
    "psycopg": (POSTGRESQL, "password", require_postgresql_tls),
    "psycopg2": (POSTGRESQL, "password", require_postgresql_tls),
    "mysqldb": (MYSQL, "password", require_mysqlclient_tls),
    "pymysql": (MYSQL, "password", require_pymysql_tls),
    "aiomysql": (MYSQL, "password", require_pymysql_tls),
}


def use_token_password(engine: E, resource: str | None = None, provider: AzureServiceTokenProvider | None = None) -> E:
    """Make ``engine`` (an ``Engine`` or ``AsyncEngine``) sign in with an Entra ID access token for
    ``resource`` (default: ``https://ossrdbms-aad.database.windows.net``, or the sovereign cloud's matching
    the provider's ``azure_ad_instance``) from ``provider`` (default: ``AzureServiceTokenProvider()``) as the
    password of every new connection. The engine's URL names the user (the principal's name on the server)
    and no password. TLS is required and the server's certificate checked (``sslmode=verify-full`` /
    ``ssl_mode=VERIFY_IDENTITY`` with certifi's CAs, a default SSL context for PyMySQL and aiomysql, unless the
    URL or ``connect_args`` choose; a mode without TLS is refused); a refused sign-in is raised as
    ``DatabaseSignInError``. Call it before the first connection and after any other ``do_connect``
    listener (it makes the connection itself). Returns ``engine``. Since 0.2."""
    sync_engine = getattr(engine, "sync_engine", engine)
    if not isinstance(sync_engine, Engine):
        raise ConfigError(f"use_token_password needs a SQLAlchemy Engine or AsyncEngine, not {engine!r}.", key="engine")
    driver = sync_engine.dialect.driver
    if driver not in _DRIVERS:
        raise ConfigError(
            f"use_token_password does not support the {sync_engine.dialect.name}+{driver} driver: use one of "
            f"{', '.join(sorted(_DRIVERS))}.",
            key="engine",
        )
    if sync_engine.url.password is not None:
        raise ConfigError(
            "The engine's URL has a password, and use_token_password would replace it with a token: remove the "
            "password from the URL (user@host, the principal's name on the server, and no password).",
            key="engine",
        )
    kind, password_key, require_tls = _DRIVERS[driver]
    password = TokenPassword.for_provider(provider, resource)

    def sign_in(dialect: Any, connection_record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        require_tls(cparams)
        cparams.pop("passwd", None)
        user = str(cparams.get("user", ""))
        server = f"{cparams.get('host', 'localhost')}:{cparams.get('port', '(default port)')}"

        def connect(token: str) -> Any:
            return dialect.connect(*cargs, **{**cparams, password_key: token})

        return connect_with_token(
            kind, connect, password, user=user, server=server, user_setting="the user in the engine's URL"
        )

    event.listen(sync_engine, "do_connect", sign_in)
    if kind == MYSQL:
        event.listen(sync_engine, "handle_error", _count_ended_tls_session_as_disconnect)
    return engine


def _count_ended_tls_session_as_disconnect(context: Any) -> None:
    """mysqlclient over TLS (which these engines always use) reports a session the server ended as error
    2026, "TLS/SSL error: unexpected eof", which SQLAlchemy does not count as a disconnect: ``pool_pre_ping``
    would raise it instead of reconnecting. At the ping, it is one."""
    error = context.original_exception
    if context.is_pre_ping and getattr(error, "args", None) and error.args[0] == 2026:  # CR_SSL_CONNECTION_ERROR
        context.is_disconnect = True
