"""``appauth_core.sqlalchemy.use_token_password`` on real engines (psycopg, psycopg2, mysqlclient, PyMySQL;
psycopg and aiomysql asyncio engines) against the real servers, as the emulator's managed identity:
pools that recycle connections and whose connections the server ends, across several token lifetimes,
with zero failed queries; and what is refused before and at sign-in."""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from appauth_core import ConfigError, DatabaseSignInError
from appauth_core.databases._sign_in import UNTRUSTED_NOTE
from appauth_core.sqlalchemy import use_token_password

from .conftest import APP_USER, SHORT_LIFETIME, SYSTEM_IDENTITY_USER, Databases

LIFETIMES = 2.5
CURRENT_USER = {"postgresql": "SELECT current_user", "mysql": "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"}


def url(databases: Databases, driver: str, user: str = SYSTEM_IDENTITY_USER) -> str:
    if driver.startswith("postgresql"):
        server = databases.postgresql
        return (
            f"{driver}://{user}@127.0.0.1:{server.port}/{server.database}"
            f"?sslmode=verify-full&sslrootcert={server.tls.ca_path}"
        )
    return f"{driver}://{user}@127.0.0.1:{databases.mariadb.port}/{databases.mariadb.database}"


def connect_args(databases: Databases, driver: str) -> dict[str, Any]:
    if driver.startswith("mysql+mysqldb"):
        return {"ssl": {"ca": str(databases.mariadb.tls.ca_path)}}
    if driver.startswith("mysql"):  # PyMySQL, aiomysql
        return {"ssl": ssl.create_default_context(cafile=str(databases.mariadb.tls.ca_path))}
    return {}


SYNC = ["postgresql+psycopg", "postgresql+psycopg2", "mysql+mysqldb", "mysql+pymysql"]
ASYNC = ["postgresql+psycopg", "mysql+aiomysql"]


def sync_engine(databases: Databases, driver: str, user: str = SYSTEM_IDENTITY_USER) -> sqlalchemy.Engine:
    engine = create_engine(
        url(databases, driver, user), connect_args=connect_args(databases, driver),
        pool_pre_ping=True, pool_recycle=2, pool_size=2,
    )  # fmt: skip
    return use_token_password(engine)


def drop_sessions(databases: Databases, user: str = SYSTEM_IDENTITY_USER) -> None:
    """Both servers end every session of ``user``, as a failover or an idle timeout would."""
    with databases.postgresql.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
    with databases.mariadb.admin() as admin:
        cursor = admin.cursor()
        cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
        for (thread,) in cursor.fetchall():
            cursor.execute(f"KILL CONNECTION {int(thread)}")


@pytest.mark.parametrize("driver", SYNC)
def test_signs_in_as_the_managed_identity_over_tls(databases: Databases, azure_emulator_env: Any, driver: str) -> None:
    engine = sync_engine(databases, driver)
    with engine.connect() as connection:
        assert connection.scalar(text(CURRENT_USER[engine.dialect.name])) == SYSTEM_IDENTITY_USER
        if engine.dialect.name == "postgresql":
            assert connection.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) is True
        else:
            assert connection.execute(text("SHOW STATUS LIKE 'Ssl_cipher'")).one()[1]
    engine.dispose()


def test_sync_engines_across_token_lifetimes(databases: Databases, short_tokens: int) -> None:
    """Every sync driver, interleaved: queries every 0.1 s for 2.5 token lifetimes; pool_recycle makes new
    connections all along and the servers end every session every 20 rounds (pool_pre_ping reconnects)."""
    engines = [sync_engine(databases, driver) for driver in SYNC]
    mirrored = databases.mirror.mirrored
    failures: list[str] = []
    rounds = drops = 0
    deadline = time.monotonic() + SHORT_LIFETIME * LIFETIMES
    while time.monotonic() < deadline:
        if rounds and rounds % 20 == 0:
            drop_sessions(databases)
            drops += 1
        for engine in engines:
            try:
                with engine.connect() as connection:
                    assert connection.scalar(text("SELECT 1")) == 1
            except Exception as error:
                failures.append(f"{engine.dialect.driver}: {type(error).__name__}: {error}")
        rounds += 1
        time.sleep(0.1)
    connects = [engine.pool.status() for engine in engines]
    for engine in engines:
        engine.dispose()
    assert failures == []
    assert drops >= 3
    assert 2 <= databases.mirror.mirrored - mirrored <= 2 * LIFETIMES + 2, connects


def test_async_engines_across_token_lifetimes(databases: Databases, short_tokens: int) -> None:
    async def run() -> tuple[list[str], int]:
        engines: list[AsyncEngine] = [
            use_token_password(
                create_async_engine(
                    url(databases, driver),
                    connect_args=connect_args(databases, driver),
                    pool_pre_ping=True,
                    pool_recycle=2,
                )
            )
            for driver in ASYNC
        ]
        failures: list[str] = []
        rounds = 0
        deadline = time.monotonic() + SHORT_LIFETIME * LIFETIMES
        while time.monotonic() < deadline:
            if rounds and rounds % 20 == 0:
                await asyncio.to_thread(drop_sessions, databases)
            for engine in engines:
                try:
                    async with engine.connect() as connection:
                        user = await connection.scalar(text(CURRENT_USER[engine.dialect.name]))
                        assert user == SYSTEM_IDENTITY_USER
                except Exception as error:
                    failures.append(f"{engine.dialect.driver}: {type(error).__name__}: {error}")
            rounds += 1
            await asyncio.sleep(0.1)
        for engine in engines:
            await engine.dispose()
        return failures, rounds

    failures, rounds = asyncio.run(run())
    assert failures == []
    assert rounds > 50


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "mysql+mysqldb", "mysql+pymysql"])
def test_a_refused_sign_in_names_principal_server_and_fixes(
    databases: Databases, azure_emulator_env: Any, driver: str
) -> None:
    """The URL names the user that mirrors another principal (the app registration): refused, and said so."""
    engine = sync_engine(databases, driver, user=APP_USER)
    with pytest.raises(DatabaseSignInError) as caught:
        engine.connect()
    error = caught.value
    assert error.user == APP_USER
    assert error.server.startswith("127.0.0.1:")
    assert databases.emulator.directory.system_identity.object_id in error.principal
    assert "the user in the engine's URL" in str(error)
    assert ("pgaadauth_create_principal" if driver.startswith("postgresql") else "CREATE AADUSER") in str(error)
    assert "eyJ" not in str(error) and "eyJ" not in repr(error.reason)
    engine.dispose()


def test_a_password_in_the_url_is_refused(databases: Databases, azure_emulator_env: Any) -> None:
    engine = create_engine(url(databases, "postgresql+psycopg").replace("@", ":hunter2@", 1))
    with pytest.raises(ConfigError, match="remove the password from the URL") as caught:
        use_token_password(engine)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("driver", "query", "message"),
    [
        ("postgresql+psycopg", "?sslmode=disable", "sslmode is 'disable'"),
        ("postgresql+psycopg2", "?sslmode=prefer", "sslmode is 'prefer'"),
        ("mysql+mysqldb", "?ssl_mode=PREFERRED", "ssl_mode is 'PREFERRED'"),
    ],
)
def test_a_connection_that_may_skip_tls_is_refused_before_any_token_is_sent(
    databases: Databases, azure_emulator_env: Any, driver: str, query: str, message: str
) -> None:
    base = url(databases, driver).split("?")[0]
    engine = use_token_password(create_engine(base + query))
    mirrored = databases.mirror.mirrored
    with pytest.raises(ConfigError, match=message):
        engine.connect()
    assert databases.mirror.mirrored == mirrored
    engine.dispose()


@pytest.mark.parametrize("driver", SYNC)
def test_without_tls_settings_the_servers_certificate_is_checked(
    databases: Databases, azure_emulator_env: Any, driver: str
) -> None:
    """The token is the password: with no TLS settings every driver checks the server's certificate (libpq's
    verify-full and mysqlclient's VERIFY_IDENTITY against certifi's CAs, PyMySQL a default context), so a
    server with a certificate from a CA nobody trusts (here: the test CA) gets no token, where "require"
    would have sent it to whoever answered."""
    engine = use_token_password(create_engine(url(databases, driver).split("?")[0]))
    with pytest.raises(sqlalchemy.exc.OperationalError, match=r"(?i)certificate verify failed|self-signed") as caught:
        engine.connect()
    engine.dispose()
    if sys.version_info >= (3, 11):  # the driver's error says what appauth checked the server against (PEP 678)
        assert UNTRUSTED_NOTE in getattr(caught.value.orig, "__notes__", []), caught.value.orig


def test_a_failure_after_sign_in_keeps_no_token_on_the_error(databases: Databases, azure_emulator_env: Any) -> None:
    """psycopg 3 keeps the failed connection on its error (``pgconn``: its password is the token, and its repr
    shows it) when the server refuses after the password exchange, e.g. a database that does not exist; the
    error reaches the app without it, its message intact."""
    from appauth_core import AzureServiceTokenProvider
    from appauth_core.databases import DEFAULT_RESOURCE

    token = AzureServiceTokenProvider().get_access_token(DEFAULT_RESOURCE)  # the one the engine will send
    engine = use_token_password(create_engine(url(databases, "postgresql+psycopg").replace("/appauth?", "/nowhere?")))
    with pytest.raises(sqlalchemy.exc.OperationalError, match='database "nowhere" does not exist') as caught:
        engine.connect()
    engine.dispose()
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(type(error).__module__.startswith("psycopg") for error in chain)  # the driver's error, kept
    for error in chain:
        assert getattr(error, "pgconn", None) is None
        assert token not in repr(error) and token not in str(error)
        assert not any(token in repr(value) for value in vars(error).values())


def test_an_unsupported_driver_is_refused(azure_emulator_env: Any) -> None:
    with pytest.raises(ConfigError, match="does not support the sqlite"):
        use_token_password(create_engine("sqlite://"))
