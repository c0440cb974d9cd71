"""Real PostgreSQL and MariaDB servers for the run, and the emulator listener that makes them accept what
Azure's servers accept (``appauth_core.testing.databases`` explains the arrangement). Each principal the tests
sign in as is mirrored to a database user of its own, named as Azure names it: the app registration's display name, the
managed identity's resource name."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appauth_core import clear_token_cache
from appauth_core.testing.databases import MariaDBServer, PostgreSQLServer, TokenMirror, mariadb_server, postgresql_bin
from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES, AzureEmulator
from appauth_core.tokens import _cache as token_cache_module

REPO = Path(__file__).resolve().parents[2]
SYSTEM_IDENTITY_USER = "appauth-emulator-host"  # the App Service site's name, as Azure names its identity
APP_USER = "appauth-emulator-app"  # the app registration's display name
SHORT_LIFETIME = 8  # seconds: the tests that span token lifetimes run for a few of them


def _require(found: object, what: str) -> None:
    if found:
        return
    message = f"{what} is not installed; run `make test` (it installs the Debian packages)"
    if os.environ.get("APPAUTH_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQLServer]:
    _require(postgresql_bin(), "PostgreSQL (postgresql)")
    server = PostgreSQLServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    _require(mariadb_server(), "MariaDB (mariadb-server)")
    server = MariaDBServer()
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class Databases:
    emulator: AzureEmulator
    postgresql: PostgreSQLServer
    mariadb: MariaDBServer
    mirror: TokenMirror

    def env(self, **extra: str) -> dict[str, str]:
        """A subprocess environment: this one without any token-source variables, pointed at the emulator's
        App Service managed identity (the system-assigned identity, ``SYSTEM_IDENTITY_USER``)."""
        env = {name: value for name, value in os.environ.items() if name not in SOURCE_SELECTING_VARIABLES}
        env.update(self.emulator.process_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.update(
            DB_POSTGRESQL_PORT=str(self.postgresql.port),
            DB_POSTGRESQL_CA=str(self.postgresql.tls.ca_path),
            DB_MARIADB_PORT=str(self.mariadb.port),
            DB_MARIADB_CA=str(self.mariadb.tls.ca_path),
            DB_MARIADB_SOCKET=str(self.mariadb.socket),
        )
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def databases(
    azure_emulator_session: AzureEmulator, postgresql: PostgreSQLServer, mariadb: MariaDBServer
) -> Iterator[Databases]:
    mirror = TokenMirror(postgresql, mariadb)
    mirror.mirror(azure_emulator_session.directory.system_identity.object_id, SYSTEM_IDENTITY_USER)
    mirror.mirror(azure_emulator_session.app.object_id, APP_USER)
    remove = azure_emulator_session.on_token_issued(mirror)
    try:
        yield Databases(azure_emulator_session, postgresql, mariadb, mirror)
    finally:
        remove()
        mirror.close()


@pytest.fixture
def short_tokens(
    databases: Databases, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[int]:
    """Managed-identity tokens that live ``SHORT_LIFETIME`` seconds, with this process's cache emptied (so a
    long-lived token from an earlier test is not reused); the default lifetime afterwards.

    The arrangement's PostgreSQL role holds one password, the newest token, from the moment the emulator issues
    it. The cache's caller that starts a refresh-ahead waits ``REFRESH_WAIT`` (0.25 s) for the new token and
    then connects with the old one, still valid (Azure would take it), which this server has just stopped
    accepting. On a loaded machine the emulator can take longer than that, so this process's callers wait for
    the new token instead: the arrangement's artefact is kept out, the product's refresh path is unchanged."""
    monkeypatch.setattr(token_cache_module, "REFRESH_WAIT", 30.0)
    identity = databases.emulator.managed_identity
    saved = identity.token_lifetime
    identity.token_lifetime = SHORT_LIFETIME
    clear_token_cache()
    try:
        yield SHORT_LIFETIME
    finally:
        identity.token_lifetime = saved
        clear_token_cache()


PYTHON = sys.executable
