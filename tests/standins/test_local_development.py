"""docs/local-development.md, as a developer follows it: the real emulator CLI with ``--port``, ``--secret``,
``--secrets-file`` and ``--env-file``; the env file loaded by a real shell into a fresh ``startproject`` site
and a Flask app (whose code is the page's own code blocks); restarts on the same port; the env file removed
however the emulator is stopped; ``VaultName=`` references found through the vault suffix, and the
allow-list still refusing every other host."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core.testing.emulator import PORT_OFFSETS, SOURCE_SELECTING_VARIABLES
from appauth_core.tokens import TokenCache

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "local-development.md"
BIN = Path(sys.executable).parent
PAGE_PORT = "8443"
READY_WITHIN = 20.0  # seconds; the emulator is ready in well under one, this bounds a broken run
COMMAND_TIMEOUT = 120


# --- the page --------------------------------------------------------------------------------------------


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE.read_text(), re.S | re.M)


def _block(language: str, containing: str) -> str:
    found = [block for block in _blocks(language) if containing in block]
    assert len(found) == 1, f"{PAGE.name} should have one {language} block containing {containing!r}"
    return found[0]


def _commands(containing: str) -> list[str]:
    return [line for line in _block("sh", containing).splitlines() if line.strip()]


SECRETS = json.loads(_block("json", "django-secret-key"))
EMULATOR_COMMAND = shlex.split(_block("sh", "python -m appauth_core.testing"))
LOAD_LINE = _block("sh", "set -a").strip()
SEEDED = dict(word.split("=", 1) for flag, word in itertools.pairwise(EMULATOR_COMMAND) if flag == "--secret")


# --- a developer's machine -------------------------------------------------------------------------------


def _below_ephemeral_ports() -> range:
    """Ports the kernel never hands out on its own: below its ephemeral range, where every outgoing connection
    of this and other processes takes its local port (a base picked there can be taken before the emulator binds
    it, as a developer's fixed port never is)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return range(max(low - 12000, 1024), low - max(PORT_OFFSETS.values()))


def _free_base_port() -> int:
    """A port P with P .. P+5 free (the emulator's fixed layout)."""
    candidates = _below_ephemeral_ports()
    for _ in range(50):
        base = random.choice(candidates)  # noqa: S311 - a port, not a secret
        sockets = []
        try:
            for offset in PORT_OFFSETS.values():
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no six consecutive free ports on 127.0.0.1")


def developer_shell_env() -> dict[str, str]:
    """A shell as developers have one: this machine's own CA bundle in REQUESTS_CA_BUNDLE (it sets one; so do
    corporate set-ups) and a connection string for their Azure CLI, both of which the env file must override."""
    base = {k: v for k, v in os.environ.items() if k not in SOURCE_SELECTING_VARIABLES and not k.startswith("FLASK_")}
    base.setdefault("REQUESTS_CA_BUNDLE", certifi.where())
    return {
        **base,
        "AzureServicesAuthConnectionString": "RunAs=Developer;DeveloperTool=AzureCli",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def in_loaded_shell(command: str, cwd: Path, load: str = LOAD_LINE) -> subprocess.CompletedProcess[str]:
    """``command`` in a POSIX shell that first ran the page's line loading the env file."""
    return subprocess.run(
        ["/bin/sh", "-c", f"{load}\n{command}"],
        cwd=cwd,
        env=developer_shell_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = json.loads(value) if value.startswith('"') else value
    return env


class EmulatorCli:
    """``python -m appauth_core.testing`` started as the page says (its port replaced by a free one)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.env_file = folder / ".emulator.env"
        self.process: subprocess.Popen[str] | None = None

    def argv(self, *, state_dir: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
        argv = [sys.executable if word == "python" else word for word in EMULATOR_COMMAND]
        argv[argv.index("--port") + 1] = str(self.port)
        if not state_dir:
            at = argv.index("--state-dir")
            del argv[at : at + 2]
        return [*argv, *extra]

    def start(self, *, state_dir: bool = True, extra: tuple[str, ...] = ()) -> dict[str, str]:
        (self.folder / "local-secrets.json").write_text(json.dumps(SECRETS))
        self.process = subprocess.Popen(
            self.argv(state_dir=state_dir, extra=extra),
            cwd=self.folder,
            env=developer_shell_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + READY_WITHIN
        while not self.env_file.exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the emulator did not write its env file in time"
            time.sleep(0.05)
        return read_env(self.env_file)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        assert self.process is not None
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def emulator_cli(tmp_path: Path) -> Iterator[EmulatorCli]:
    cli = EmulatorCli(tmp_path, _free_base_port())
    yield cli
    cli.kill()


# --- Django and Flask, as the page says ----------------------------------------------------------------


@pytest.fixture
def django_site(tmp_path: Path) -> Path:
    created = subprocess.run(
        [str(BIN / "django-admin"), "startproject", "mysite", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    settings = tmp_path / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + _block("python", "# mysite/settings.py"))
    return tmp_path


def test_a_new_django_project_reads_the_seeded_secrets(emulator_cli, django_site):
    env = emulator_cli.start()
    assert env["REQUESTS_CA_BUNDLE"] == env["APPAUTH_EMULATOR_CA_BUNDLE"]
    assert env["APPAUTH_VAULT_SUFFIX"] == f"127.0.0.1:{emulator_cli.port}"
    check, reveal, _runserver = _commands("manage.py check")

    result = in_loaded_shell(check, django_site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout

    result = in_loaded_shell(reveal, django_site)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SEEDED["db-password"] + "\n"

    # SECRET_KEY is a VaultName=myvault reference: the vault suffix sent it to the emulator's vault.
    show = 'python manage.py shell -c "from django.conf import settings; print(settings.SECRET_KEY)"'
    result = in_loaded_shell(show, django_site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == SECRETS["django-secret-key"]


def test_without_the_env_files_ca_bundle_the_first_check_fails_on_tls(emulator_cli, django_site):
    emulator_cli.start()
    trimmed = emulator_cli.folder / "no-trust.env"
    lines = emulator_cli.env_file.read_text().splitlines(keepends=True)
    trust = ("REQUESTS_CA_BUNDLE=", "SSL_CERT_FILE=")
    trimmed.write_text("".join(line for line in lines if not line.startswith(trust)))
    result = in_loaded_shell(
        "python manage.py appauth secret db-password --reveal", django_site, load=f"set -a; . {trimmed}; set +a"
    )
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stdout + result.stderr


def test_a_flask_app_reads_the_seeded_secrets(emulator_cli, tmp_path):
    emulator_cli.start()
    (tmp_path / "app.py").write_text(_block("python", "# app.py"))
    reveal, run = _commands("flask --app app run")

    result = in_loaded_shell(reveal, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SEEDED["db-password"] + "\n"

    show = "python -c 'from app import app; print(app.config[\"SECRET_KEY\"])'"
    result = in_loaded_shell(show, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SECRETS["flask-secret-key"]

    port = _free_base_port()
    server = subprocess.Popen(
        ["/bin/sh", "-c", f"{LOAD_LINE}\nexec {run} --port {port}"],
        cwd=tmp_path,
        env=developer_shell_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _get_when_serving(f"http://127.0.0.1:{port}/", server)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert json.loads(body) == {"db_password_length": len(SEEDED["db-password"])}


def _get_when_serving(url: str, server: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + READY_WITHIN
    while True:
        assert server.poll() is None, server.communicate()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            assert time.monotonic() < deadline, "flask run did not answer in time"
            time.sleep(0.1)


def test_the_allow_list_still_refuses_another_host_on_loopback(emulator_cli, django_site):
    env = emulator_cli.start()
    entra = f"127.0.0.1:{emulator_cli.port + PORT_OFFSETS['entra']}"  # another port on 127.0.0.1: another server
    settings = django_site / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text() + f'\nSTOLEN = "@Microsoft.KeyVault(SecretUri=https://{entra}/secrets/db-password)"\n'
    )
    result = in_loaded_shell("python manage.py check", django_site)  # the reference is a system check error
    assert result.returncode != 0
    assert SEEDED["db-password"] not in result.stdout + result.stderr
    assert "STOLEN" in result.stdout + result.stderr
    assert "appauth.E002" in result.stderr
    assert entra in result.stderr
    assert "APPAUTH['ALLOWED_VAULT_HOSTS']" in result.stderr  # advice in the Django user's own words
    counters = subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", "counters", "--env-file", str(emulator_cli.env_file)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=True,
    )
    assert not [name for name in json.loads(counters.stdout) if name.startswith(("entra", "arm"))]
    assert env["APPAUTH_EMULATOR_AUTHORITY"] == f"https://{entra}/"


# --- restarts ----------------------------------------------------------------------------------------------


def test_with_port_the_urls_are_the_same_after_a_restart(emulator_cli):
    first = emulator_cli.start(state_dir=False)
    assert emulator_cli.stop()[0] == 0
    second = emulator_cli.start(state_dir=False)
    p = emulator_cli.port
    expected = {
        "APPAUTH_KEY_VAULT_URL": f"https://127.0.0.1:{p}/",
        "APPAUTH_EMULATOR_VAULT_URL": f"https://127.0.0.1:{p}/",
        "APPAUTH_EMULATOR_AUTHORITY": f"https://127.0.0.1:{p + 1}/",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{p + 2}",
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{p + 2}/msi/token",
        "APPAUTH_EMULATOR_CONTROL_URL": f"http://127.0.0.1:{p + 3}/",
    }
    for env in (first, second):
        assert {name: env[name] for name in expected} == expected
    assert not Path(first["REQUESTS_CA_BUNDLE"]).exists()  # without --state-dir the first CA went with it
    assert Path(second["REQUESTS_CA_BUNDLE"]).exists()


def test_with_a_state_dir_a_running_app_survives_a_restart(emulator_cli, monkeypatch):
    first = emulator_cli.start()
    written = emulator_cli.env_file.read_text()
    for name, value in first.items():  # a long-running app that loaded the first env file
        monkeypatch.setenv(name, value)
    secrets = KeyVaultSecrets(first["APPAUTH_KEY_VAULT_URL"], AzureServiceTokenProvider(cache=TokenCache()))
    assert secrets.get("db-password") == SEEDED["db-password"]
    assert emulator_cli.stop()[0] == 0

    emulator_cli.start(extra=("--secret", "added-after-restart=second run"))
    assert emulator_cli.env_file.read_text() == written  # byte for byte: nothing to load again
    # Same CA, same identity header; the token from before the restart is refused (new signing key) and renewed.
    assert secrets.get("added-after-restart") == "second run"
    secrets.close()


# --- stopping ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_the_env_file_is_removed_when_the_emulator_stops(emulator_cli, signum):
    env = emulator_cli.start(state_dir=False)
    assert Path(env["APPAUTH_EMULATOR_CA"]).exists()
    code, out, err = emulator_cli.stop(signum)
    assert code == 0, err
    assert "stopping" in out
    assert "Traceback" not in err
    assert not emulator_cli.env_file.exists()
    assert not Path(env["APPAUTH_EMULATOR_CA"]).exists()  # nothing is left to point at


def test_a_taken_port_is_refused_and_the_running_emulators_env_file_stays(emulator_cli):
    emulator_cli.start()
    before = emulator_cli.env_file.read_text()
    other = emulator_cli.folder / "second.env"
    argv = emulator_cli.argv(state_dir=False)
    argv[argv.index("--env-file") + 1] = str(other)
    result = subprocess.run(argv, cwd=emulator_cli.folder, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 2
    assert re.match(r"error: port \d+ on 127\.0\.0\.1 \(\w+\) is in use: is another emulator running", result.stderr)
    assert f"(--port {emulator_cli.port})" in result.stderr
    assert "Traceback" not in result.stderr
    assert not other.exists()
    assert emulator_cli.env_file.read_text() == before
    assert emulator_cli.stop()[0] == 0
    assert not emulator_cli.env_file.exists()


def test_a_state_dir_holding_something_else_is_a_usage_error(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "emulator-state.json").write_text("not a state file")
    env_file = tmp_path / "e.env"
    result = subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", "--state-dir", str(state), "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 2
    assert "is not an emulator state file; delete it to start with a new state" in result.stderr
    assert "Traceback" not in result.stderr
    assert not env_file.exists()


# --- seeding -------------------------------------------------------------------------------------------------

CANARY = "CANARY-secrets-file-value-7f3a"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON: Expecting property name enclosed in double quotes at line 1"),
        (json.dumps([["db-password", CANARY]]), "must hold one JSON object"),
        (json.dumps({"db-password": 42, "other": CANARY}), "the value of 'db-password' must be a string, not int"),
        (json.dumps({"bad_name": CANARY}), "bad_name: invalid Key Vault secret name 'bad_name'"),
        (None, "No such file or directory"),
    ],
    ids=["not-json", "not-an-object", "not-a-string", "bad-name", "missing"],
)
def test_a_wrong_secrets_file_is_a_usage_error_that_never_shows_a_value(tmp_path, content, message):
    path = tmp_path / "secrets.json"
    if content is not None:
        path.write_text(content)
    env_file = tmp_path / "never.env"
    result = subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", "--env-file", str(env_file), "--secrets-file", str(path)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --secrets-file {path}")
    assert message in result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert not env_file.exists()


def test_secret_flags_win_over_the_secrets_file(emulator_cli, monkeypatch):
    env = emulator_cli.start(extra=("--secret", "flask-secret-key=from the flag"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    secrets = KeyVaultSecrets(env["APPAUTH_KEY_VAULT_URL"], AzureServiceTokenProvider(cache=TokenCache()))
    assert secrets.get("flask-secret-key") == "from the flag"
    assert secrets.get("django-secret-key") == SECRETS["django-secret-key"]
    secrets.close()
