"""Runs the Django test project in this process and prints a JSON report: migrate, then requests through
Django's WSGI handler as a WSGI server calls it (the whole request cycle: middleware,
``request_started``/``request_finished`` and so ``CONN_MAX_AGE`` and health checks, which Django's test
client switches off) every ``--interval`` seconds for ``--seconds``. With ``--drop-every N``
every N-th request is preceded by the server ending the app's connection (as a failover or an idle timeout
would), from an admin connection the suite set up, so the health check has to reconnect.

    python -m tests.databases.django_project.drive --seconds 20 --interval 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.databases.django_project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if not args.no_migrate:
        call_command("migrate", verbosity=0, interactive=False)
    from django.core.signals import got_request_exception

    errors: list[str] = []
    got_request_exception.connect(lambda sender, request=None, **kw: errors.append(_current_error()), weak=False)
    client = WsgiClient()
    report: dict[str, object] = {"requests": 0, "failures": [], "drops": 0}
    failures: list[str] = report["failures"]  # type: ignore[assignment]
    backends: set[object] = set()
    first = client.get("/whoami")
    report["whoami"] = first.json() if first.status_code == 200 else None
    if first.status_code != 200:
        failures.append(f"{first.status_code}: {errors[-1] if errors else ''}")
    deadline = time.monotonic() + args.seconds
    while True:
        count = int(report["requests"])  # type: ignore[call-overload]
        if args.drop_every and count and count % args.drop_every == 0:
            _drop_app_connections()
            report["drops"] = int(report["drops"]) + 1  # type: ignore[call-overload]
        response = client.get("/notes/add", {"text": f"note {count}"})
        report["requests"] = count + 1
        if response.status_code != 200:
            failures.append(f"{response.status_code}: {errors[-1] if errors else ''}")
        if connection.connection is not None:
            backends.add(_backend_id(connection))
        if time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    report["distinct_connections_seen"] = len(backends)
    print(json.dumps(report))


class WsgiClient:
    """GET requests straight into ``WSGIHandler``; returns (status code, body)."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()

    def get(self, path: str, query: dict[str, str] | None = None) -> Response:
        from urllib.parse import urlencode
        from wsgiref.util import setup_testing_defaults

        environ: dict[str, object] = {"PATH_INFO": path, "QUERY_STRING": urlencode(query or {})}
        setup_testing_defaults(environ)
        status: list[str] = []
        body = b"".join(self.handler(environ, lambda code, headers, exc_info=None: status.append(code)))
        return Response(int(status[0].split()[0]), body)


class Response:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> object:
        return json.loads(self.content)


def _current_error() -> str:
    import sys

    from django.db import OperationalError

    from appauth_core import DatabaseSignInError

    error = sys.exc_info()[1]
    if error is None:
        return "?"
    kinds = [kind.__name__ for kind in (OperationalError, DatabaseSignInError) if isinstance(error, kind)]
    return f"{type(error).__name__} (is {', '.join(kinds) or 'neither'}): {error}"


def _backend_id(connection: object) -> object:
    raw = connection.connection  # type: ignore[attr-defined]
    info = getattr(raw, "info", None)  # psycopg 3
    if info is not None and not callable(info):
        return info.backend_pid
    thread_id = getattr(raw, "thread_id", None)  # mysqlclient
    return thread_id() if callable(thread_id) else id(raw)


def _drop_app_connections() -> None:
    """The server ends every session of the app's database user (the admin credentials are the suite's)."""
    user = os.environ.get("DB_USER", "appauth-emulator-host")
    if os.environ.get("DB_BACKEND", "postgresql") == "postgresql":
        import psycopg

        with psycopg.connect(os.environ["DB_ADMIN_DSN"], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
    else:
        import MySQLdb

        admin = MySQLdb.connect(unix_socket=os.environ["DB_MARIADB_SOCKET"], user="root", autocommit=True)
        try:
            cursor = admin.cursor()
            cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
            for (thread,) in cursor.fetchall():
                cursor.execute(f"KILL CONNECTION {int(thread)}")
        finally:
            admin.close()


if __name__ == "__main__":
    main()
