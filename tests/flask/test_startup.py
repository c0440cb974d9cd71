"""Issue 15, item 1 for Flask: with a ``@Microsoft.KeyVault(...)`` config value that cannot be read (here the
vault is down), ``flask appauth ...`` still works and says which key failed, with no traceback from click's
command lookup; ``flask run``, ``flask routes`` and a WSGI server still refuse to start. Real ``flask`` and
gunicorn processes, an app factory as users write one."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.flask.support import free_port, reference, subprocess_env

APP = """\
from flask import Flask

from appauth_flask import AppAuth

appauth = AppAuth()


def create_app():
    app = Flask(__name__)
    app.config.from_prefixed_env()
    appauth.init_app(app)

    @app.get("/")
    def index():
        return "ok"

    return app
"""


@pytest.fixture
def vault_down(tmp_path: Path, azure_emulator) -> tuple[Path, dict[str, str]]:
    """The app factory, its vault a loopback address where nothing listens (the identity still works)."""
    (tmp_path / "app.py").write_text(APP)
    vault = f"https://127.0.0.1:{free_port()}/"
    config = {"FLASK_APPAUTH_KEY_VAULT_URL": vault, "FLASK_DATABASE_PASSWORD": reference(vault, "db-password")}
    return tmp_path, subprocess_env(azure_emulator, config)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def test_with_the_vault_down_flask_appauth_works_and_servers_refuse(vault_down):
    cwd, env = vault_down
    commands = {
        "check": flask("appauth", "check"),
        "whoami": flask("appauth", "whoami"),
        "help": flask("--help"),
        "routes": flask("routes"),
        "run": flask("run", "--port", str(free_port())),
        "gunicorn": [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "app:create_app()"],
    }
    with ThreadPoolExecutor(len(commands)) as pool:  # each waits out the vault client's retries
        results = dict(zip(commands, pool.map(lambda args: run(args, cwd, env), commands.values()), strict=True))

    check = results["check"]
    assert check.returncode == 1, check.stdout + check.stderr
    assert "[ok]   token for https://vault.azure.net via" in check.stdout
    assert "[fail] DATABASE_PASSWORD: " in check.stderr and "KeyVaultUnavailableError" not in check.stdout
    whoami = results["whoami"]
    assert whoami.returncode == 0, whoami.stdout + whoami.stderr
    assert "[ok]   Signed in via Managed identity" in whoami.stdout
    assert "DATABASE_PASSWORD could not be read when the app loaded" in whoami.stdout
    assert "appauth" in results["help"].stdout
    for name in ("check", "whoami", "help"):
        assert "Traceback" not in results[name].stdout + results[name].stderr, name

    for name in ("routes", "run", "gunicorn"):
        result = results[name]
        assert result.returncode != 0, f"{name} started with the vault down:\n{result.stdout}{result.stderr}"
        assert "ReferenceResolutionError: DATABASE_PASSWORD: " in result.stdout + result.stderr, name


def test_the_environment_switch_leaves_references_unresolved_for_a_build(vault_down, azure_emulator):
    cwd, env = vault_down
    routes = run(flask("routes"), cwd, {**env, "APPAUTH_RESOLVE_REFERENCES": "0"})
    assert routes.returncode == 0, routes.stdout + routes.stderr
    assert "index" in routes.stdout
    assert azure_emulator.counters["mi"] == 0  # nothing was even signed in for
