"""The test arrangement itself (``appauth_core.testing.databases``): the local servers accept what Azure's
would, an unexpired token the emulator issued for the ossrdbms audience to the principal the user mirrors,
and refuse an expired token, a token for another audience, another principal's token and a plain password.
The principals here are their own (two app registrations), so no token issued here replaces a password another
test relies on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import MySQLdb
import psycopg
import pytest

from appauth_core.databases import DEFAULT_RESOURCE

from .conftest import Databases

FIRST, SECOND = "appauth-arrangement-first", "appauth-arrangement-second"


@pytest.fixture(scope="module")
def principals(databases: Databases) -> dict[str, Any]:
    apps = {name: databases.emulator.register_app(secret="not-used-" + name) for name in (FIRST, SECOND)}
    for name, app in apps.items():
        databases.mirror.mirror(app.object_id, name)
    return apps


def postgresql_sign_in(databases: Databases, user: str, password: str) -> bool:
    server = databases.postgresql
    try:
        psycopg.connect(
            host="127.0.0.1", port=server.port, dbname=server.database, user=user, password=password,
            sslmode="verify-full", sslrootcert=str(server.tls.ca_path), connect_timeout=10,
        ).close()  # fmt: skip
    except psycopg.OperationalError as error:
        refused = "password authentication failed" in str(error) or "no password supplied" in str(error)
        if not refused:
            raise
        return False
    return True


def mariadb_sign_in(databases: Databases, user: str, password: str) -> bool:
    server = databases.mariadb
    try:
        MySQLdb.connect(
            host="127.0.0.1", port=server.port, database=server.database, user=user, password=password,
            ssl={"ca": str(server.tls.ca_path)}, connect_timeout=10,
        ).close()  # fmt: skip
    except MySQLdb.OperationalError as error:
        if error.args[0] != 1045:  # ER_ACCESS_DENIED_ERROR: anything else is not a refusal
            raise
        return False
    return True


SIGN_INS = [pytest.param(postgresql_sign_in, id="postgresql"), pytest.param(mariadb_sign_in, id="mariadb")]
SignIn = Callable[[Databases, str, str], bool]


@pytest.mark.parametrize("sign_in", SIGN_INS)
def test_a_current_token_for_the_principal_is_accepted(
    databases: Databases, principals: dict[str, Any], sign_in: SignIn
) -> None:
    token = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST]).access_token
    assert sign_in(databases, FIRST, token)


@pytest.mark.parametrize("sign_in", SIGN_INS)
def test_an_expired_token_is_refused(databases: Databases, principals: dict[str, Any], sign_in: SignIn) -> None:
    issued = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST], lifetime=2)
    assert sign_in(databases, FIRST, issued.access_token)
    time.sleep(max(issued.expires_on - time.time(), 0) + 0.5)
    assert not sign_in(databases, FIRST, issued.access_token)


@pytest.mark.parametrize("sign_in", SIGN_INS)
def test_a_token_for_another_audience_is_refused(
    databases: Databases, principals: dict[str, Any], sign_in: SignIn
) -> None:
    valid = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST]).access_token
    vault = databases.emulator.issue_token("https://vault.azure.net", app=principals[FIRST]).access_token
    assert not sign_in(databases, FIRST, vault)
    assert sign_in(databases, FIRST, valid)  # the vault token changed nothing


@pytest.mark.parametrize("sign_in", SIGN_INS)
def test_another_principals_token_is_refused(databases: Databases, principals: dict[str, Any], sign_in: SignIn) -> None:
    theirs = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[SECOND]).access_token
    assert sign_in(databases, SECOND, theirs)
    assert not sign_in(databases, FIRST, theirs)


@pytest.mark.parametrize("sign_in", SIGN_INS)
def test_a_plain_password_is_refused(databases: Databases, principals: dict[str, Any], sign_in: SignIn) -> None:
    databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST])
    assert not sign_in(databases, FIRST, "Pa55word!")
    assert not sign_in(databases, FIRST, "")


def test_postgresql_keeps_only_the_newest_token_which_azure_does_not(
    databases: Databases, principals: dict[str, Any]
) -> None:
    """The arrangement's one difference from Azure, shown so it cannot pass for a bug: a PostgreSQL role has
    one password, so the previous, unexpired token stops working here once a newer one is issued (Azure
    would accept both). MariaDB users hold every unexpired token, so there both work."""
    older = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST]).access_token
    newer = databases.emulator.issue_token(DEFAULT_RESOURCE, app=principals[FIRST]).access_token
    assert not postgresql_sign_in(databases, FIRST, older)  # the test artefact: Azure accepts it
    assert postgresql_sign_in(databases, FIRST, newer)
    assert mariadb_sign_in(databases, FIRST, older)
    assert mariadb_sign_in(databases, FIRST, newer)
