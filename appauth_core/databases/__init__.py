"""Entra ID access tokens as database passwords (Azure Database for PostgreSQL and for MySQL): the token
from the process-wide cache for every new connection, TLS required, and refused sign-ins explained. The
framework adapters (``appauth_django.db.backends.*``) and ``appauth_core.sqlalchemy`` are built on this."""

from ._resource import DEFAULT_RESOURCE, SOVEREIGN_RESOURCES, database_resource
from ._sign_in import MYSQL, POSTGRESQL, connect_with_token, describe_principal, is_refused_sign_in, sign_in_error
from ._tls import require_asyncpg_tls, require_mysqlclient_tls, require_postgresql_tls, require_pymysql_tls
from ._token_password import TokenPassword

__all__ = [
    "DEFAULT_RESOURCE",
    "MYSQL",
    "POSTGRESQL",
    "SOVEREIGN_RESOURCES",
    "TokenPassword",
    "connect_with_token",
    "database_resource",
    "describe_principal",
    "is_refused_sign_in",
    "require_asyncpg_tls",
    "require_mysqlclient_tls",
    "require_postgresql_tls",
    "require_pymysql_tls",
    "sign_in_error",
]
