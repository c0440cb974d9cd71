"""Django's PostgreSQL ``DatabaseWrapper`` with an Entra ID token as the password of every new connection.

Everything else is the stock backend's. The token comes from the process-wide cache for each connection
Django opens (``CONN_MAX_AGE`` reconnects, health checks, the test database), and for each connection
Django 5.1+'s pool (``OPTIONS["pool"]``) opens: Django builds the pool's connection arguments once, so the
token is not put there but in the pool's ``connection_class``, which asks for a current one at every connect.
TLS is required and the server's certificate checked (``sslmode`` defaults to ``verify-full``, ``sslrootcert``
to certifi's CAs). A refused sign-in is ``DjangoDatabaseSignInError``, also when the pool opens the connection
(psycopg_pool would only say ``PoolTimeout``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db.backends.postgresql import base  # type: ignore[import-untyped]

from appauth_core import DatabaseSignInError
from appauth_core.databases import POSTGRESQL, TokenPassword, connect_with_token, require_postgresql_tls

from ..._token_settings import server_of, setting, token_password
from ...errors import for_django
from .client import DatabaseClient

DEFAULT_PORT = 5432
_pool_refusals: dict[str, DatabaseSignInError] = {}  # alias -> the pool's latest refused sign-in, until one succeeds


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        password = token_password(self.settings_dict, self.alias)  # a PASSWORD beside it is refused here
        del password
        params: dict[str, Any] = super().get_connection_params()
        require_postgresql_tls(params, key=setting(self.alias, "OPTIONS", "sslmode"))
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self._pool() is not None:  # the pool's connection class signs in (token_connection_class)
            try:
                return super().get_new_connection(conn_params)
            except Exception as error:
                # psycopg_pool retries a failing connect in its own threads until the wait times out, then says
                # only PoolTimeout: a refused sign-in behind it is what the app needs to hear.
                refused = _pool_refusals.get(self.alias)
                if refused is None or type(error).__name__ != "PoolTimeout":
                    raise
                raise for_django(refused) from error
        password = token_password(self.settings_dict, self.alias)
        parent = super().get_new_connection

        def connect(token: str) -> Any:
            return parent({**conn_params, "password": token})

        return sign_in(connect, password, self.settings_dict, self.alias)

    @property
    def pool(self) -> Any:
        """Django's pool, made with a ``connection_class`` that signs in with a current token."""
        options = self.settings_dict["OPTIONS"]
        pool_options = options.get("pool")
        if pool_options and not isinstance(pool_options, _TokenPoolOptions):
            chosen = {} if pool_options is True else dict(pool_options)
            chosen["connection_class"] = token_connection_class(
                chosen.get("connection_class"), self.settings_dict, self.alias
            )
            options["pool"] = _TokenPoolOptions(chosen)
        return self._pool()

    def _pool(self) -> Any:
        return getattr(super(), "pool", None)  # Django < 5.1 has no pool


class _TokenPoolOptions(dict):  # type: ignore[type-arg]
    """``OPTIONS["pool"]`` once our connection class is in it (so it is put there once)."""


def sign_in(
    connect: Callable[[str], Any], password: TokenPassword, settings_dict: Mapping[str, Any], alias: str
) -> Any:
    try:
        return connect_with_token(
            POSTGRESQL,
            connect,
            password,
            user=str(settings_dict.get("USER") or ""),
            server=server_of(settings_dict, DEFAULT_PORT),
            user_setting=setting(alias, "USER"),
        )
    except DatabaseSignInError as refused:
        raise for_django(refused) from None


def token_connection_class(chosen: type | None, settings_dict: Mapping[str, Any], alias: str) -> type:
    """A subclass of ``chosen`` (default ``psycopg.Connection``) whose ``connect`` adds a current token."""
    import psycopg

    parent: type = chosen or psycopg.Connection

    class TokenConnection(parent):  # type: ignore[misc]
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            password = token_password(settings_dict, alias)

            def connect(token: str) -> Any:
                return super(TokenConnection, cls).connect(conninfo, **{**kwargs, "password": token})

            try:
                connection = sign_in(connect, password, settings_dict, alias)
            except DatabaseSignInError as refused:
                _pool_refusals[alias] = refused
                raise
            _pool_refusals.pop(alias, None)
            return connection

    TokenConnection.__qualname__ = TokenConnection.__name__ = f"Token{parent.__name__}"
    return TokenConnection
