"""The Django test project (``django_project/``) through ``appauth_django.db.backends.postgresql`` (psycopg 3)
and ``.mysql`` (mysqlclient) against the real servers, each in its own process: it migrates and serves
requests that write and read a row, across several short token lifetimes, with zero failed requests."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from .conftest import APP_USER, PYTHON, REPO, SHORT_LIFETIME, SYSTEM_IDENTITY_USER, Databases

LIFETIMES = 2.5  # each run spans this many token lifetimes


def drive(databases: Databases, *args: str, timeout: float = 120, **env: str) -> dict[str, Any]:
    process = subprocess.run(
        [PYTHON, "-m", "tests.databases.django_project.drive", *args],
        cwd=REPO, env=databases.env(**env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    report: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return report


def admin_dsn(databases: Databases) -> str:
    server = databases.postgresql
    return (
        f"host=127.0.0.1 port={server.port} dbname={server.database} user={server.admin_user} "
        f"password={server.admin_password} sslmode=verify-full sslrootcert={server.tls.ca_path}"
    )


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_migrates_and_serves_as_the_managed_identity_over_tls(databases: Databases, backend: str) -> None:
    report = drive(databases, "--seconds", "0", DB_BACKEND=backend)
    assert report["whoami"] == {"user": SYSTEM_IDENTITY_USER, "tls": True}
    assert report["requests"] == 1
    assert report["failures"] == []


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_conn_max_age_and_health_checks_across_token_lifetimes(
    databases: Databases, short_tokens: int, backend: str
) -> None:
    """Persistent connections (CONN_MAX_AGE=None) that the server ends now and then (every 10th request): the
    health check reconnects, each time with the token current at that moment, long after the first expired."""
    mirrored = databases.mirror.mirrored
    report = drive(
        databases, "--seconds", str(SHORT_LIFETIME * LIFETIMES), "--interval", "0.1", "--drop-every", "10",
        DB_BACKEND=backend, DB_CONN_MAX_AGE="null", DB_HEALTH_CHECKS="1", DB_ADMIN_DSN=admin_dsn(databases),
    )  # fmt: skip
    assert report["failures"] == []
    assert report["requests"] > 50
    assert report["drops"] >= 5
    assert report["distinct_connections_seen"] >= report["drops"]  # it did reconnect after each drop
    # The app asked Entra for a token about once per lifetime (refreshed at half of these short ones).
    issued = databases.mirror.mirrored - mirrored
    assert 2 <= issued <= 2 * LIFETIMES + 2


def test_conn_max_age_reconnects_with_a_current_token(databases: Databases, short_tokens: int) -> None:
    """CONN_MAX_AGE=1: Django closes each connection a second after it opened and opens a new one, for
    several token lifetimes; every one of them signs in."""
    report = drive(
        databases, "--seconds", str(SHORT_LIFETIME * LIFETIMES), "--interval", "0.1",
        DB_BACKEND="postgresql", DB_CONN_MAX_AGE="1",
    )  # fmt: skip
    assert report["failures"] == []
    assert report["distinct_connections_seen"] >= SHORT_LIFETIME * LIFETIMES / 1.5


def _django_version() -> int:
    """The Django the test project runs on (the matrix's), as major * 100 + minor."""
    found = subprocess.run(
        [PYTHON, "-c", "import django; print(django.VERSION[0] * 100 + django.VERSION[1])"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(found)


def test_django_pool_opens_later_connections_with_a_current_token(databases: Databases, short_tokens: int) -> None:
    """Django 5.1+'s pool (OPTIONS["pool"]) builds its connection arguments once; its connections live at most
    2 s (max_lifetime), so it opens new ones all through the run, long after the token it started with
    expired."""
    if _django_version() < 501:
        pytest.skip("Django < 5.1 has no connection pool")
    report = drive(
        databases, "--seconds", str(SHORT_LIFETIME * LIFETIMES), "--interval", "0.1",
        DB_BACKEND="postgresql", DB_POOL=json.dumps({"min_size": 1, "max_size": 2, "max_lifetime": 2}),
    )  # fmt: skip
    assert report["failures"] == []
    assert report["distinct_connections_seen"] >= SHORT_LIFETIME * LIFETIMES / 3


@pytest.mark.parametrize(("backend", "create"), [("postgresql", "pgaadauth_create_principal"),
                                                  ("mysql", "CREATE AADUSER")])  # fmt: skip
def test_another_principals_user_is_refused_with_advice(databases: Databases, backend: str, create: str) -> None:
    """USER names a database user that mirrors another principal (the app registration): the server refuses
    the managed identity's token, and the error names the principal, the server, the user and the fixes; the
    app may catch it as appauth's DatabaseSignInError or as Django's OperationalError."""
    report = drive(databases, "--no-migrate", "--seconds", "0", DB_BACKEND=backend, DB_USER=APP_USER)
    text = " ".join(report["failures"])
    assert report["whoami"] is None
    object_id = databases.emulator.directory.system_identity.object_id
    server = databases.postgresql if backend == "postgresql" else databases.mariadb
    for expected in (
        "(is OperationalError, DatabaseSignInError)",  # caught as either: Django's database error, or ours
        f"127.0.0.1:{server.port}",
        repr(APP_USER),
        object_id,
        create,
        "DATABASES['default']['USER']",
    ):
        assert expected in text, expected
    assert "eyJ" not in text  # no JWT in what the app shows


def test_a_refused_sign_in_through_the_pool_is_said_as_such_not_as_a_pool_timeout(databases: Databases) -> None:
    """psycopg_pool retries a failing connect in its own threads and then says only PoolTimeout; the backend
    raises the refused sign-in behind it instead (the PoolTimeout as its cause), with the same advice."""
    if _django_version() < 501:
        pytest.skip("Django < 5.1 has no connection pool")
    report = drive(
        databases, "--no-migrate", "--seconds", "0", DB_BACKEND="postgresql", DB_USER=APP_USER,
        DB_POOL=json.dumps({"min_size": 1, "max_size": 2, "timeout": 3}),
    )  # fmt: skip
    text = " ".join(report["failures"])
    assert "(is OperationalError, DatabaseSignInError)" in text, text
    assert "pgaadauth_create_principal" in text and repr(APP_USER) in text
    assert "eyJ" not in text


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_a_password_alongside_is_a_system_check_error(databases: Databases, backend: str) -> None:
    process = subprocess.run(
        [PYTHON, "-m", "django", "check", "--settings=tests.databases.django_project.settings"],
        cwd=REPO, env=databases.env(DB_BACKEND=backend, DB_PASSWORD="hunter2"), capture_output=True, text=True,
    )  # fmt: skip
    assert process.returncode == 1
    assert "appauth.E030" in process.stderr
    assert "DATABASES['default']['PASSWORD'] is set" in process.stderr
    assert "hunter2" not in process.stderr


def test_a_wrong_appauth_entry_is_a_system_check_error(databases: Databases) -> None:
    process = subprocess.run(
        [PYTHON, "-m", "django", "check", "--settings=tests.databases.django_project.settings"],
        cwd=REPO, capture_output=True, text=True,
        env=databases.env(DB_APPAUTH=json.dumps({"RESOURCE": "http://not-https", "TENANT": "x"})),
    )  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.count("appauth.E031") == 2
    assert "DATABASES['default']['APPAUTH'] has unknown keys ['TENANT']" in process.stderr
    assert "DATABASES['default']['APPAUTH']['RESOURCE'] must be the https URL" in process.stderr


SHELL_QUERY = {
    "postgresql": ["-c", "SELECT current_user"],
    "mysql": ["-e", "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS user"],
}


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_dbshell_runs_a_query_through_the_real_client(databases: Databases, backend: str) -> None:
    process = subprocess.run(
        [PYTHON, "-m", "django", "dbshell", "--settings=tests.databases.django_project.settings", "--",
         *SHELL_QUERY[backend]],
        cwd=REPO, env=databases.env(DB_BACKEND=backend), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert SYSTEM_IDENTITY_USER in process.stdout


INSPECT_CLIENT = """
import json, django
django.setup()
from django.db import connection
args, env = connection.client.settings_to_cmd_args_env(connection.settings_dict, [])
secret = {"PGPASSWORD", "MYSQL_PWD"}
print(json.dumps({"args": args, "env": {name: value[:3] if name in secret else value for name, value in env.items()}}))
"""


@pytest.mark.parametrize(("backend", "variable"), [("postgresql", "PGPASSWORD"), ("mysql", "MYSQL_PWD")])
def test_dbshell_passes_the_token_in_the_environment_never_on_the_command_line(
    databases: Databases, backend: str, variable: str
) -> None:
    process = subprocess.run(
        [PYTHON, "-c", INSPECT_CLIENT], cwd=REPO, capture_output=True, text=True, timeout=60,
        env=databases.env(DB_BACKEND=backend, DJANGO_SETTINGS_MODULE="tests.databases.django_project.settings"),
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    shown = json.loads(process.stdout)
    assert shown["env"][variable] == "eyJ"  # a JWT
    assert not any("eyJ" in arg for arg in shown["args"])
    if backend == "mysql":
        assert "--enable-cleartext-plugin" in shown["args"]
    else:
        assert shown["env"]["PGSSLMODE"] == "verify-full"  # the entry's own, kept


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_dbshell_checks_the_server_as_the_app_does(databases: Databases, backend: str) -> None:
    """An entry without TLS options: dbshell's client checks the server's certificate against certifi's CAs,
    as the app's connections do (psql: PGSSLMODE=verify-full, PGSSLROOTCERT; mysql: --ssl-ca and
    --ssl-verify-server-cert), so the token in its environment goes to no one else."""
    import certifi

    process = subprocess.run(
        [PYTHON, "-c", INSPECT_CLIENT], cwd=REPO, capture_output=True, text=True, timeout=60,
        env=databases.env(DB_BACKEND=backend, DB_OPTIONS="{}",
                          DJANGO_SETTINGS_MODULE="tests.databases.django_project.settings"),
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    shown = json.loads(process.stdout)
    if backend == "postgresql":
        assert (shown["env"]["PGSSLMODE"], shown["env"]["PGSSLROOTCERT"]) == ("verify-full", certifi.where())
    else:
        assert {"--ssl", "--ssl-verify-server-cert", f"--ssl-ca={certifi.where()}"} <= set(shown["args"])


@pytest.mark.parametrize(("backend", "options", "words"), [
    ("postgresql", {"sslmode": "prefer"}, "DATABASES['default']['OPTIONS']['sslmode'] is 'prefer'"),
    ("mysql", {"ssl_mode": "DISABLED"}, "DATABASES['default']['OPTIONS']['ssl_mode'] is 'DISABLED'"),
])  # fmt: skip
def test_dbshell_refuses_a_mode_that_may_send_the_token_without_tls(
    databases: Databases, backend: str, options: dict[str, str], words: str
) -> None:
    process = subprocess.run(
        [PYTHON, "-m", "django", "dbshell", "--settings=tests.databases.django_project.settings", "--",
         *SHELL_QUERY[backend]],
        cwd=REPO, env=databases.env(DB_BACKEND=backend, DB_OPTIONS=json.dumps(options)), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode != 0
    assert words in process.stderr, process.stderr[-2000:]
    assert "eyJ" not in process.stderr + process.stdout
