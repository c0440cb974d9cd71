"""Connecting with the token, and telling a refused sign-in apart from any other failure: the server says
only "password authentication failed" (PostgreSQL) or "Access denied" (MySQL, error 1045), so the error
names the principal the token was for, the server and the user, and lists the three usual causes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

from .._internal.frame_locals import Hidden, clear_locals, clears_locals
from ..errors import DatabaseSignInError
from ..tokens import Principal
from ._token_password import TokenPassword

T = TypeVar("T")

POSTGRESQL = "PostgreSQL"
MYSQL = "MySQL"

_POSTGRESQL_REFUSALS = ("password authentication failed", "28P01", "pam authentication failed")
_MYSQL_REFUSALS = (1045, 1698)  # ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR

CREATE_PRINCIPAL = {
    POSTGRESQL: "as the server's Entra admin, in the postgres database: "
    "SELECT * FROM pgaadauth_create_principal('<name>', false, false); then GRANT what the app needs",
    MYSQL: "as the server's Entra admin: CREATE AADUSER '<name>'; then GRANT what the app needs",
}


def is_refused_sign_in(kind: str, error: BaseException) -> bool:
    """Whether ``error`` (from the driver's connect) is the server refusing the password."""
    if kind == MYSQL:
        code = error.args[0] if error.args else None
        return code in _MYSQL_REFUSALS
    text = f"{getattr(error, 'sqlstate', '') or ''} {getattr(error, 'pgcode', '') or ''} {error}".lower()
    return any(marker.lower() in text for marker in _POSTGRESQL_REFUSALS)


def forget_connection(error: BaseException) -> None:
    """psycopg 3 keeps the failed connection on its error (``error.pgconn``, whose ``password`` is the token and
    whose repr shows it) after any failure past the password exchange ("database does not exist", too many
    connections): drop it from ``error`` and from every error it was raised from or during. The message, the
    SQLSTATE and the server's diagnostics stay."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "_pgconn", None) is not None:
            with contextlib.suppress(AttributeError, TypeError):
                current._pgconn = None  # type: ignore[attr-defined]
        current = current.__cause__ or current.__context__


_UNTRUSTED = ("certificate verify failed", "self-signed certificate", "self signed certificate", "unable to get local")
UNTRUSTED_NOTE = (
    "appauth: the server's TLS certificate was checked (the default, since the token is the password) against "
    "certifi's CAs unless the settings name others. For a server whose certificate comes from your own CA, give "
    "that CA: sslrootcert (PostgreSQL) or ssl={'ca': ...} (MySQL); sslmode='require' / ssl_mode='REQUIRED' "
    "encrypts without checking the server."
)


def note_untrusted_server(error: BaseException) -> None:
    """A driver's error saying the server's certificate was not trusted gets a note (PEP 678, Python 3.11+) on
    what appauth checked it against and what to set: the driver's message alone reads as a broken server."""
    if hasattr(error, "add_note") and any(marker in str(error).lower() for marker in _UNTRUSTED):
        error.add_note(UNTRUSTED_NOTE)


def describe_principal(token: str) -> str:
    """Who a token is for, from its (unverified) claims: nothing secret."""
    try:
        principal = Principal.from_token(token)
    except Exception:  # not a JWT we can read: say so rather than fail while explaining a failure
        return "a principal the token does not name"
    parts = [f"app id {principal.app_id}" if principal.app_id else None]
    if principal.user_principal_name:
        parts.append(f"user {principal.user_principal_name}")
    parts.append(f"object id {principal.object_id}" if principal.object_id else None)
    parts.append(f"tenant {principal.tenant_id}" if principal.tenant_id else None)
    return ", ".join(part for part in parts if part) or "a principal the token does not name"


def sign_in_error(
    kind: str, error: BaseException, *, token: str, user: str, server: str, user_setting: str, resource: str
) -> DatabaseSignInError:
    """The ``DatabaseSignInError`` for a refused sign-in; the server's words with the token cut out, if any."""
    reason = str(error).strip().splitlines() or ["(no reason given)"]
    reason_text = " ".join(line.strip() for line in reason).replace(token, "<token>") if token else " ".join(reason)
    principal = describe_principal(token)
    message = (
        f"The {kind} server {server} refused the Entra ID token (for {resource}) as the password of user "
        f"{user!r}; the token is for {principal}. The server said: {reason_text}. Likely causes: "
        f"(1) the principal is not created on the server ({CREATE_PRINCIPAL[kind].replace('<name>', user)}); "
        f"(2) {user_setting} is not the name the server knows the principal by (the managed identity's or app "
        "registration's display name, or the Entra group's name when the server knows the group); "
        "(3) the token is from another tenant than the server's Entra admin (the connection string's TenantId), "
        "or Entra authentication is off on the server."
    )
    return DatabaseSignInError(message, server=server, user=user, principal=principal, reason=reason_text)


@clears_locals
def connect_with_token(
    kind: str,
    connect: Callable[[str], T],
    password: TokenPassword,
    *,
    user: str,
    server: str,
    user_setting: str,
) -> T:
    """``connect(token)`` with a current token; a refused sign-in is raised as ``DatabaseSignInError`` (the
    driver's error, whose frames hold the token, dropped); any other error as the driver raised it."""
    token = Hidden(password())
    try:
        return connect(token.value)
    except Exception as error:
        if not is_refused_sign_in(kind, error):
            forget_connection(error)
            note_untrusted_server(error)
            raise
        refused = sign_in_error(
            kind,
            error,
            token=token.value,
            user=user,
            server=server,
            user_setting=user_setting,
            resource=password.resource,
        )
        clear_locals(error)
    del token
    raise refused from None
