"""What Azure's servers need of a client that signs in with a token, applied unless the app chose otherwise.

Azure Database for PostgreSQL and for MySQL refuse connections without TLS by default
(``require_secure_transport``), and the token crosses the wire as the password: in clear text for MySQL
(Azure's server-side ``aad_auth`` plugin asks for ``mysql_clear_password``), as a SCRAM/cleartext reply for
PostgreSQL. So TLS is required for every connection made with a token, and an explicit choice that allows a
plain connection is an error rather than a token sent in the clear.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import MutableMapping
from typing import Any

from ..errors import ConfigError

PLAIN_POSTGRESQL_MODES = frozenset({"disable", "allow", "prefer"})
PLAIN_MYSQL_MODES = frozenset({"DISABLED", "PREFERRED"})


def require_postgresql_tls(params: MutableMapping[str, Any], *, key: str = "sslmode") -> None:
    """libpq's ``sslmode`` (psycopg, psycopg2) defaults to ``require``; a mode that may connect without TLS is
    refused. Use ``verify-full`` with ``sslrootcert`` to check the server's certificate as well."""
    mode = params.setdefault("sslmode", "require")
    if str(mode).lower() in PLAIN_POSTGRESQL_MODES:
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token over a connection without TLS: use 'require' "
            "(Azure's minimum), or 'verify-full' with sslrootcert to check the server's certificate too.",
            key=key,
        )


def require_asyncpg_tls(params: MutableMapping[str, Any], *, key: str = "ssl") -> None:
    """asyncpg's ``ssl`` defaults to ``require``; ``disable``, ``allow``, ``prefer`` and False are refused."""
    mode = params.setdefault("ssl", "require")
    if mode is False or (isinstance(mode, str) and mode.lower() in PLAIN_POSTGRESQL_MODES):
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token over a connection without TLS: use 'require', "
            "'verify-full' or an ssl.SSLContext.",
            key=key,
        )


def require_mysqlclient_tls(params: MutableMapping[str, Any], *, key: str = "ssl_mode") -> None:
    """mysqlclient: ``ssl_mode`` defaults to ``REQUIRED`` unless an ``ssl`` dict is given (which implies TLS);
    ``DISABLED`` and ``PREFERRED`` are refused. The cleartext plugin Azure's server asks for is enabled for
    libmysqlclient builds (``LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN``; MariaDB Connector/C always has it), which is
    safe only because TLS is required here."""
    mode = params.get("ssl_mode")
    if mode is None and not params.get("ssl"):
        mode = params["ssl_mode"] = "REQUIRED"
    if mode is not None and str(mode).upper() in PLAIN_MYSQL_MODES:
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token in clear text over a connection without TLS: "
            "use 'REQUIRED', 'VERIFY_CA' or 'VERIFY_IDENTITY', or leave it out.",
            key=key,
        )
    os.environ.setdefault("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "1")


def require_pymysql_tls(params: MutableMapping[str, Any], *, key: str = "ssl") -> None:
    """PyMySQL and aiomysql connect without TLS unless told: with no ``ssl`` given, a default context (the
    system's CAs, host name checked: Azure's certificates are publicly trusted) is used; ``ssl_disabled`` is
    refused. PyMySQL answers the cleartext plugin by itself, so TLS is what keeps the token private."""
    if params.get("ssl_disabled"):
        raise ConfigError(
            "ssl_disabled is set, which would send the Entra ID token in clear text: remove it, and give ssl "
            "(a dict with 'ca', or an ssl.SSLContext) if the server's certificate is not publicly trusted.",
            key="ssl_disabled",
        )
    has_tls = params.get("ssl") or any(
        params.get(name) for name in ("ssl_ca", "ssl_verify_cert", "ssl_verify_identity")
    )
    if not has_tls:
        params["ssl"] = ssl.create_default_context()
