"""Real PostgreSQL and MariaDB servers on loopback that accept the emulator's Entra ID tokens as passwords, as
Azure Database for PostgreSQL and for MySQL do: for the database tests, the benchmarks, ``make demo`` and your
own tests (docs/databases-django.md, "Testing locally"). Debian's binaries (packages ``postgresql``,
``mariadb-server``), run in a throwaway folder, TLS only, with a trustme certificate; as root (CI, containers)
they run as their own unprivileged users (``postgres``, ``mysql``), otherwise as you.

The arrangement (docs/databases-django.md, "How the tests check tokens"): Azure's servers check the Entra ID
token itself; these servers check passwords. So each principal is mirrored to a database user of its own, which
has no password anyone knows, and an emulator listener (``TokenMirror``) gives that user every token the
emulator issues *to that principal* *for the ossrdbms audience* as a password, valid until the token's ``exp``.
A token for another audience, another principal's token, an expired token and a plain password are then
refused, as Azure refuses them.

- PostgreSQL: ``ALTER ROLE ... PASSWORD <token> VALID UNTIL <exp>``. A role has ONE password, so issuing a
  new token makes the previous, still unexpired one stop working here, which Azure would accept. Only a
  connection that presents the previous token after a newer one was issued meets this: processes that share
  one identity need the emulator's managed-identity token cache (``AzureEmulator.configure(
  reuse_managed_identity_tokens=True)``, as Azure's endpoints cache tokens), and ``tests/databases/
  test_arrangement.py`` shows the artefact on purpose, so it cannot pass for a bug.
- MariaDB: no per-password expiry, but a user may have several: ``IDENTIFIED VIA mysql_native_password
  USING PASSWORD(t1) OR ...``. The mirror keeps every unexpired token (as Azure accepts every one) and takes
  each out when it expires (a timer at ``exp``, and at every new token), so the artefact above does not exist
  (except that PyMySQL and aiomysql can present only one of the two newest: ``TokenMirror._sync_mariadb``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import trustme

from ..databases import DEFAULT_RESOURCE
from ._processes import stop_process

STARTUP_TIMEOUT = 60.0
__all__ = ["MariaDBServer", "PostgreSQLServer", "ServerTLS", "TokenMirror", "mariadb_server", "postgresql_bin"]


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_as(user: str) -> list[str]:
    """The command prefix that runs a server as its own user when we are root (PostgreSQL refuses to run as
    root, MariaDB should not); as anyone else, the server runs as we do."""
    return ["runuser", "-u", user, "--"] if _as_root() else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgresql_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def mariadb_server() -> Path | None:
    for candidate in ("/usr/sbin/mariadbd", shutil.which("mariadbd") or ""):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def _chown(path: Path, user: str) -> None:
    if _as_root():
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _owned_folder(prefix: str, user: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _chown(folder, user)
    return folder


def _write_owned(path: Path, data: bytes, user: str, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    _chown(path, user)
    path.chmod(mode)
    return path


def _wait_for_port(port: int, alive: Callable[[], bool], log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} stopped before listening:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}:\n{log.read_text(errors='replace')[-4000:]}")


@dataclass
class ServerTLS:
    """A CA and a server certificate for 127.0.0.1 / localhost, written where the server user can read them."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    @classmethod
    def write(cls, folder: Path, user: str) -> ServerTLS:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ca_path = _write_owned(folder / "ca.pem", ca.cert_pem.bytes(), user, 0o644)
        cert_path = _write_owned(folder / "server.crt", b"".join(c.bytes() for c in server.cert_chain_pems), user)
        key_path = _write_owned(folder / "server.key", server.private_key_pem.bytes(), user)
        return cls(ca_path, cert_path, key_path)


@dataclass
class PostgreSQLServer:
    """``start()`` / ``stop()``; ``admin()`` is a psycopg connection as the superuser (a plain password)."""

    folder: Path = field(default_factory=lambda: _owned_folder("appauth-postgresql-", "postgres"))
    port: int = field(default_factory=free_port)
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    database: str = "appauth"

    def start(self) -> PostgreSQLServer:
        binaries = postgresql_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
        self.tls = ServerTLS.write(self.folder, "postgres")
        data = self.folder / "data"
        pwfile = _write_owned(self.folder / "pwfile", self.admin_password.encode(), "postgres")
        self.log = self.folder / "server.log"
        _write_owned(self.log, b"", "postgres", 0o644)
        as_postgres = _run_as("postgres")
        subprocess.run(  # noqa: S603 - Debian's binaries, an argument list
            [*as_postgres, str(binaries / "initdb"), "-D", str(data), "-A", "scram-sha-256", f"--pwfile={pwfile}",
             "-U", self.admin_user, "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        (data / "pg_hba.conf").write_text(
            "# TLS only, as Azure; every password (a mirrored token for the principals' roles) checked by SCRAM\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 reject\n"
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c ssl=on "
            f"-c ssl_cert_file={self.tls.cert_path} -c ssl_key_file={self.tls.key_path} -c fsync=off "
            "-c max_connections=200"
        )
        subprocess.run(  # noqa: S603 - Debian's binaries, an argument list
            [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.log), "-w",
             "-t", str(int(STARTUP_TIMEOUT)), "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._binaries = binaries
        with self.admin(dbname="postgres") as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        return self

    def admin(self, dbname: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.admin_user, password=self.admin_password,
            dbname=dbname or self.database, sslmode="verify-full", sslrootcert=str(self.tls.ca_path),
            autocommit=True,
        )  # fmt: skip

    def create_role(self, name: str) -> None:
        """A login role with a password nobody knows (until the mirror gives it a token), owning the database's
        public schema objects it creates."""
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(secrets.token_urlsafe(32))
                )
            )
            conn.execute(
                sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(self.database), sql.Identifier(name))
            )
            conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(name)))  # Django's test database

    def set_token_password(self, role: str, token: str, expires_on: int) -> None:
        from psycopg import sql

        until = datetime.fromtimestamp(expires_on, timezone.utc).isoformat()
        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {} VALID UNTIL {}").format(
                    sql.Identifier(role), sql.Literal(token), sql.Literal(until)
                )
            )

    def stop(self) -> None:
        binaries = getattr(self, "_binaries", None)
        if binaries is not None:
            subprocess.run(  # noqa: S603 - Debian's binaries, an argument list
                [*_run_as("postgres"), str(binaries / "pg_ctl"), "-D", str(self.folder / "data"),
                 "-m", "immediate", "-w", "stop"],
                capture_output=True, check=False,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class MariaDBServer:
    """``start()`` / ``stop()``; ``admin()`` is a MySQLdb connection as the administrator (root, or the OS
    user running it) over the server's socket."""

    folder: Path = field(default_factory=lambda: _owned_folder("appauth-mariadb-", "mysql"))
    port: int = field(default_factory=free_port)
    database: str = "appauth"

    def start(self) -> MariaDBServer:
        server = mariadb_server()
        if server is None:
            raise RuntimeError("MariaDB is not installed (Debian package mariadb-server; `make test` installs it)")
        self.tls = ServerTLS.write(self.folder, "mysql")
        data = self.folder / "data"
        self.socket = self.folder / "mysqld.sock"
        self.log = self.folder / "server.log"
        install = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
        # The administrator signs in over the server's socket as the OS user running it (unix_socket).
        self.admin_user = "root" if _as_root() else pwd.getpwuid(os.geteuid()).pw_name
        owner = ["--user=mysql"] if _as_root() else [f"--auth-root-socket-user={self.admin_user}"]
        subprocess.run(  # noqa: S603 - Debian's binaries, an argument list
            [install, "--no-defaults", f"--datadir={data}", *owner, "--skip-test-db",
             "--auth-root-authentication-method=socket"],
            check=True, capture_output=True,
        )  # fmt: skip
        command = [
            *_run_as("mysql"), str(server), "--no-defaults", f"--datadir={data}",
            f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
            f"--pid-file={self.folder / 'mysqld.pid'}", f"--log-error={self.log}",
            f"--ssl-ca={self.tls.ca_path}", f"--ssl-cert={self.tls.cert_path}", f"--ssl-key={self.tls.key_path}",
            "--require-secure-transport=ON",  # as Azure's default
            "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--max-connections=300",
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - Debian's binaries, an argument list
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.log.touch()
        _wait_for_port(self.port, lambda: self._process.poll() is None, self.log, "MariaDB")
        with self.admin() as conn:
            conn.cursor().execute(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        return self

    def admin(self) -> Any:
        import MySQLdb  # type: ignore[import-untyped]

        conn = MySQLdb.connect(unix_socket=str(self.socket), user=self.admin_user, autocommit=True)
        return conn

    def create_user(self, name: str) -> None:
        with self.admin() as conn:
            cursor = conn.cursor()
            cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (name, secrets.token_urlsafe(32)))
            cursor.execute(f"GRANT ALL ON `{self.database}`.* TO %s@'127.0.0.1'", (name,))
            cursor.execute("GRANT ALL ON `test_%%`.* TO %s@'127.0.0.1'", (name,))  # Django's test database

    def set_token_passwords(self, user: str, tokens: list[str]) -> None:
        """Every token in ``tokens`` is a valid password of ``user``; none left: a password nobody knows."""
        if not tokens:
            tokens = [secrets.token_urlsafe(32)]
        clause = " OR ".join(["mysql_native_password USING PASSWORD(%s)"] * len(tokens))
        with self.admin() as conn:
            conn.cursor().execute(f"ALTER USER %s@'127.0.0.1' IDENTIFIED VIA {clause}", (user, *tokens))

    def stop(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None:
            stop_process(process, timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


class TokenMirror:
    """The emulator listener of the arrangement (module docstring): ``principals`` maps a token's ``oid`` to
    the database user mirroring that principal; only tokens whose ``aud`` is ``resource`` are mirrored."""

    def __init__(
        self,
        postgresql: PostgreSQLServer | None,
        mariadb: MariaDBServer | None,
        resource: str = DEFAULT_RESOURCE,
    ) -> None:
        self.postgresql = postgresql
        self.mariadb = mariadb
        self.resource = resource
        self.principals: dict[str, str] = {}
        self.mirrored = 0  # tokens given to a user so far
        self._mariadb_tokens: dict[str, list[tuple[str, int]]] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    def mirror(self, object_id: str, user: str) -> None:
        """Create ``user`` on both servers for the principal ``object_id``."""
        self.principals[object_id] = user
        if self.postgresql:
            self.postgresql.create_role(user)
        if self.mariadb:
            self.mariadb.create_user(user)

    def __call__(self, claims: dict[str, Any], issued: Any) -> None:
        user = self.principals.get(str(claims.get("oid")))
        if user is None or claims.get("aud") != self.resource:
            return
        with self._lock:
            self.mirrored += 1
            if self.postgresql:
                self.postgresql.set_token_password(user, issued.access_token, issued.expires_on)
            if self.mariadb:
                self._mariadb_tokens.setdefault(user, []).append((issued.access_token, issued.expires_on))
                self._sync_mariadb(user)
                timer = threading.Timer(max(issued.expires_on - time.time(), 0) + 0.05, self._expire, (user,))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()

    def _expire(self, user: str) -> None:
        with self._lock:
            if self.mariadb is not None and self._mariadb_tokens:
                self._sync_mariadb(user)

    def _sync_mariadb(self, user: str) -> None:
        assert self.mariadb is not None
        now = time.time()
        live = [(token, exp) for token, exp in self._mariadb_tokens.get(user, []) if exp > now]
        self._mariadb_tokens[user] = live
        # Newest first: a server tries the alternatives in order, asking the client to switch for each next one,
        # and PyMySQL / aiomysql follow one switch only ("received multiple auth switch requests"), so with
        # them only the two newest tokens work here (libmariadb's clients take any); Azure has no such limit.
        self.mariadb.set_token_passwords(user, [token for token, _ in reversed(live)])

    def close(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._mariadb_tokens.clear()
