"""A real MIT Kerberos KDC on loopback for the run: realm CONTOSO.TEST, the user alice, the federation
server's service principal HTTP/localhost with its keytab, and alice's ticket in a private credential
cache. Debian's krb5-kdc, krb5-admin-server and krb5-user (installed by `make test`); everything lives in
a temporary directory and the KDC stops when the run ends.

GSSAPI reads KRB5_CONFIG and KRB5CCNAME from the process environment, so the fixture sets them in
os.environ for the session (restored afterwards).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REALM = "CONTOSO.TEST"
DOMAIN = "contoso.test"
USER = "alice"
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy")


def _missing(message: str) -> None:
    if os.environ.get("APPAUTH_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Kdc:
    directory: Path
    port: int
    env: dict[str, str]
    password: str = field(repr=False)
    principal: str = f"{USER}@{REALM}"
    process: subprocess.Popen[bytes] | None = None

    @property
    def keytab(self) -> Path:
        return self.directory / "http.keytab"

    @property
    def ccache(self) -> str:
        return self.env["KRB5CCNAME"]

    def run(self, *command: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            list(command), env=self.env, input=stdin, capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        log = (self.directory / "krb5kdc.out").open("ab")
        self.process = subprocess.Popen(
            ["krb5kdc", "-n", "-r", REALM], env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"krb5kdc exited with {self.process.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port}: {self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kinit(self, ccache: str) -> None:
        """alice's ticket-granting ticket into ``ccache`` (a ``FILE:`` name), password on stdin."""
        self.run("kinit", "-c", ccache, self.principal, stdin=self.password + "\n")

    def log(self) -> str:
        path = self.directory / "kdc.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@pytest.fixture(scope="session")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    for tool in TOOLS:
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            _missing(f"{tool} not found: run `make test` (it installs krb5-kdc, krb5-admin-server, krb5-user)")
    try:
        import gssapi  # noqa: F401
        import spnego  # noqa: F401
    except ImportError:
        _missing("gssapi/pyspnego are not installed: pip install -e '.[dev]' (the kerberos extra)")
    directory = tmp_path_factory.mktemp("kdc")
    port = _free_port()
    (directory / "krb5.conf").write_text(
        f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    max_retries = 1
    kdc_timeout = 2s
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    localhost = {REALM}
"""
    )
    (directory / "kdc.conf").write_text(
        f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}
[realms]
    {REALM} = {{
        database_name = {directory}/principal
        key_stash_file = {directory}/stash
        acl_file = {directory}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
    }}
[logging]
    kdc = FILE:{directory}/kdc.log
"""
    )
    env = {
        **os.environ,
        "KRB5_CONFIG": str(directory / "krb5.conf"),
        "KRB5_KDC_PROFILE": str(directory / "kdc.conf"),
        "KRB5CCNAME": f"FILE:{directory}/alice.ccache",
        "KRB5_KTNAME": f"FILE:{directory}/none.keytab",  # the stand-in names its keytab itself
    }
    kdc = Kdc(directory, port, env, password=secrets.token_urlsafe(18))
    master = secrets.token_urlsafe(18)
    kdc.run("kdb5_util", "create", "-s", "-r", REALM, "-P", master)
    kdc.run("kadmin.local", "-r", REALM, "-q", f"addprinc -pw {kdc.password} {USER}")
    kdc.run("kadmin.local", "-r", REALM, "-q", "addprinc -randkey HTTP/localhost")
    kdc.run("kadmin.local", "-r", REALM, "-q", f"ktadd -k {kdc.keytab} HTTP/localhost")
    kdc.start()
    patch = pytest.MonkeyPatch()
    try:
        kdc.kinit(kdc.ccache)
        for name in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME"):
            patch.setenv(name, env[name])
        yield kdc
    finally:
        patch.undo()
        kdc.stop()
        shutil.rmtree(directory, ignore_errors=True)
