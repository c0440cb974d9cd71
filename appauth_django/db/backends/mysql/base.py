"""Django's MySQL ``DatabaseWrapper`` with an Entra ID token as the password of every new connection.

Everything else is the stock backend's. TLS is required and the server's certificate checked (``ssl_mode``
defaults to ``VERIFY_IDENTITY``, ``OPTIONS["ssl"]`` to certifi's CAs): Azure's server asks for the token through
the cleartext plugin, which is safe only over TLS to the right server (``appauth_core/databases/_tls.py``).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.mysql import base  # type: ignore[import-untyped]

from appauth_core import DatabaseSignInError
from appauth_core.databases import MYSQL, connect_with_token, require_mysqlclient_tls

from ..._token_settings import server_of, setting, token_password
from ...errors import for_django
from .client import DatabaseClient

DEFAULT_PORT = 3306


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        token_password(self.settings_dict, self.alias)  # a PASSWORD beside it is refused here
        params: dict[str, Any] = super().get_connection_params()
        require_mysqlclient_tls(params, key=setting(self.alias, "OPTIONS", "ssl_mode"))
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        password = token_password(self.settings_dict, self.alias)
        parent = super().get_new_connection

        def connect(token: str) -> Any:
            return parent({**conn_params, "password": token})

        try:
            return connect_with_token(
                MYSQL,
                connect,
                password,
                user=str(self.settings_dict.get("USER") or ""),
                server=server_of(self.settings_dict, DEFAULT_PORT),
                user_setting=setting(self.alias, "USER"),
            )
        except DatabaseSignInError as refused:
            raise for_django(refused) from None
