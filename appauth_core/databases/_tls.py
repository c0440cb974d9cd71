"""What Azure's servers need of a client that signs in with a token, applied unless the app chose otherwise.

Azure Database for PostgreSQL and for MySQL refuse connections without TLS by default
(``require_secure_transport``), and the token crosses the wire as the password: in clear text for MySQL
(Azure's server-side ``aad_auth`` plugin asks for ``mysql_clear_password``), as a SCRAM/cleartext reply for
PostgreSQL. So TLS is required for every connection made with a token, and an explicit choice that allows a
plain connection is an error rather than a token sent in the clear.

TLS alone is not enough: a client that does not check the server's certificate hands the token to whoever sits
in between, and an ossrdbms token opens every server of the tenant where the principal exists. So the server's
certificate and name are checked by default, against certifi's CA bundle (Azure's server certificates chain to
public roots: DigiCert Global Root G2, Microsoft RSA Root CA 2017). certifi's file rather than libpq's
``sslrootcert=system``: that needs libpq 16 and finds no roots with the OpenSSL bundled in some wheels and
installers. Encrypted without the check (``require`` / ``REQUIRED``) stays possible as an explicit choice.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PLAIN_POSTGRESQL_MODES = frozenset({"disable", "allow", "prefer"})
PLAIN_MYSQL_MODES = frozenset({"DISABLED", "PREFERRED"})


def public_ca_bundle() -> str:
    """The CA bundle the server's certificate is checked against by default (certifi's, as requests uses)."""
    import certifi

    return str(certifi.where())


def require_postgresql_tls(params: MutableMapping[str, Any], *, key: str = "sslmode") -> None:
    """libpq's ``sslmode`` (psycopg, psycopg2) defaults to ``verify-full`` (TLS, the server's certificate and
    host name checked), with ``sslrootcert`` defaulting to ``public_ca_bundle()`` for a verifying mode unless
    ``PGSSLROOTCERT`` or ``~/.postgresql/root.crt`` names the CAs; ``require`` (encrypted, the server not checked)
    is kept when chosen; a mode that may connect without TLS is refused."""
    mode = params.setdefault("sslmode", "verify-full")
    if str(mode).lower() in PLAIN_POSTGRESQL_MODES:
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token over a connection without TLS: leave it out "
            "('verify-full', the server's certificate checked), or use 'require' (Azure's minimum: encrypted, "
            "but the server is not checked).",
            key=key,
        )
    verifying = str(mode).lower() in ("verify-ca", "verify-full")
    if verifying and not params.get("sslrootcert") and not _libpq_finds_roots():
        params["sslrootcert"] = public_ca_bundle()


def _libpq_finds_roots() -> bool:
    """Whether libpq has CAs of the user's choosing without ``sslrootcert``: ``PGSSLROOTCERT`` or its default
    file, ``~/.postgresql/root.crt``."""
    return bool(os.environ.get("PGSSLROOTCERT")) or (Path.home() / ".postgresql" / "root.crt").exists()


def require_asyncpg_tls(params: MutableMapping[str, Any], *, key: str = "ssl") -> None:
    """asyncpg's ``ssl`` defaults to ``verify-full`` (the system's CAs); ``disable``, ``allow``, ``prefer`` and
    False are refused."""
    mode = params.setdefault("ssl", "verify-full")
    if mode is False or (isinstance(mode, str) and mode.lower() in PLAIN_POSTGRESQL_MODES):
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token over a connection without TLS: use 'require', "
            "'verify-full' or an ssl.SSLContext.",
            key=key,
        )


def require_mysqlclient_tls(params: MutableMapping[str, Any], *, key: str = "ssl_mode") -> None:
    """mysqlclient: ``ssl_mode`` defaults to ``VERIFY_IDENTITY`` (TLS, the server's certificate and host name
    checked), with ``ssl`` defaulting to ``{"ca": public_ca_bundle()}`` when no ``ssl`` dict is given;
    ``REQUIRED`` (encrypted, the server not checked) is kept when chosen; ``DISABLED`` and ``PREFERRED`` are
    refused.

    The cleartext plugin Azure's server asks for: MariaDB Connector/C always has it; Oracle's libmysqlclient
    only with ``LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN``, which this sets for such builds only. That variable holds for
    the whole process: its other MySQL connections then answer a server's cleartext request too, so they must
    use TLS as well (docs/databases-django.md)."""
    mode = params.get("ssl_mode")
    if mode is None:
        mode = params["ssl_mode"] = "VERIFY_IDENTITY"
        if not params.get("ssl"):
            params["ssl"] = {"ca": public_ca_bundle()}
    if str(mode).upper() in PLAIN_MYSQL_MODES:
        raise ConfigError(
            f"{key} is {mode!r}, which may send the Entra ID token in clear text over a connection without TLS: "
            "leave it out ('VERIFY_IDENTITY', the server's certificate checked), or use 'REQUIRED' (encrypted, "
            "but the server is not checked).",
            key=key,
        )
    if _oracle_libmysqlclient():
        os.environ.setdefault("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "1")


def _oracle_libmysqlclient() -> bool:
    """Whether mysqlclient is built against Oracle's libmysqlclient (8.x, 9.x), not MariaDB Connector/C (3.x)."""
    try:
        import MySQLdb  # type: ignore[import-untyped]
    except ImportError:
        return False
    version = str(MySQLdb._mysql.get_client_info())
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) >= 5


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
