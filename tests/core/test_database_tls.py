"""The TLS settings a token connection gets (``appauth_core.databases``' ``require_*_tls``): the server's
certificate checked by default, against certifi's CAs unless the app or libpq's own settings name others;
an explicit ``require`` / ``REQUIRED`` kept; a mode that may connect in the clear refused. The same settings
against real servers: tests/databases."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from appauth_core import ConfigError
from appauth_core.databases import require_asyncpg_tls, require_mysqlclient_tls, require_postgresql_tls


@pytest.fixture(autouse=True)
def no_libpq_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt


def test_postgresql_checks_the_server_against_certifi_by_default() -> None:
    params: dict[str, object] = {}
    require_postgresql_tls(params)
    assert params == {"sslmode": "verify-full", "sslrootcert": certifi.where()}


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
def test_postgresql_keeps_the_apps_own_cas(mode: str) -> None:
    params: dict[str, object] = {"sslmode": mode, "sslrootcert": "/etc/my-ca.pem"}
    require_postgresql_tls(params)
    assert params == {"sslmode": mode, "sslrootcert": "/etc/my-ca.pem"}


def test_postgresql_leaves_libpqs_own_ca_settings_in_force(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", "/etc/from-the-environment.pem")
    params: dict[str, object] = {}
    require_postgresql_tls(params)
    assert params == {"sslmode": "verify-full"}
    monkeypatch.delenv("PGSSLROOTCERT")
    (tmp_path / ".postgresql").mkdir()
    (tmp_path / ".postgresql" / "root.crt").write_text("")
    params = {}
    require_postgresql_tls(params)
    assert params == {"sslmode": "verify-full"}


def test_postgresql_require_is_kept_when_chosen() -> None:
    params: dict[str, object] = {"sslmode": "require"}
    require_postgresql_tls(params)
    assert params == {"sslmode": "require"}


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "PREFER"])
def test_postgresql_refuses_a_mode_that_may_connect_in_the_clear(mode: str) -> None:
    with pytest.raises(ConfigError, match=f"OPTIONS.sslmode is '{mode}'.*leave it out") as refused:
        require_postgresql_tls({"sslmode": mode}, key="OPTIONS.sslmode")
    assert refused.value.key == "OPTIONS.sslmode"


def test_mysqlclient_checks_the_server_against_certifi_by_default() -> None:
    params: dict[str, object] = {}
    require_mysqlclient_tls(params)
    assert params == {"ssl_mode": "VERIFY_IDENTITY", "ssl": {"ca": certifi.where()}}


def test_mysqlclient_checks_the_server_against_the_apps_ca() -> None:
    params: dict[str, object] = {"ssl": {"ca": "/etc/my-ca.pem"}}
    require_mysqlclient_tls(params)
    assert params == {"ssl_mode": "VERIFY_IDENTITY", "ssl": {"ca": "/etc/my-ca.pem"}}


def test_mysqlclient_required_is_kept_when_chosen() -> None:
    params: dict[str, object] = {"ssl_mode": "REQUIRED"}
    require_mysqlclient_tls(params)
    assert params == {"ssl_mode": "REQUIRED"}


@pytest.mark.parametrize("mode", ["DISABLED", "PREFERRED", "preferred"])
def test_mysqlclient_refuses_a_mode_that_may_connect_in_the_clear(mode: str) -> None:
    with pytest.raises(ConfigError, match=f"ssl_mode is '{mode}'"):
        require_mysqlclient_tls({"ssl_mode": mode})


def test_asyncpg_checks_the_server_by_default() -> None:
    params: dict[str, object] = {}
    require_asyncpg_tls(params)
    assert params == {"ssl": "verify-full"}
