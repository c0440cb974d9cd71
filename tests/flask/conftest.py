"""Fixtures for the Flask adapter: apps wired to the emulator, canary secrets, and real gunicorn servers."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from appauth_core.testing.emulator import AzureEmulator
from appauth_flask import AppAuth
from tests.conftest import stop_process

from .support import REPO, free_port, subprocess_env

GUNICORN_STARTUP_TIMEOUT = 30.0
GUNICORN_STOP_TIMEOUT = 10.0


@pytest.fixture
def canary(azure_emulator: AzureEmulator) -> Callable[..., str]:
    """Store a secret whose value is unique and recognisable, so a test can prove it never leaks."""

    def store(name: str, *, vault: Any = None) -> str:
        value = f"canary-{name}-{uuid.uuid4().hex}"
        (vault or azure_emulator.vault).set_secret(name, value)
        return value

    return store


@pytest.fixture
def make_app(azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> Callable[..., Flask]:
    """A Flask app using the emulator's vault (through the App Service managed identity), with appauth
    initialised by a fresh ``AppAuth`` unless one is passed; ``setup(app)`` runs just before ``init_app``."""

    def build(extension: AppAuth | None = None, setup: Callable[[Flask], None] | None = None, **config: Any) -> Flask:
        app = Flask(f"flask_test_{uuid.uuid4().hex[:8]}")
        app.config.update({"TESTING": True, "APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url, **config})
        if setup is not None:
            setup(app)
        (extension or AppAuth()).init_app(app)
        return app

    return build


class Gunicorn:
    """A running gunicorn; ``url`` is its base URL."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=20)


@pytest.fixture
def gunicorn(azure_emulator: AzureEmulator, tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start ``gunicorn <app>`` on a free loopback port with the emulator's environment; it must answer
    ``ready_path`` within a bounded time. Every server started is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        app: str, *, env: dict[str, str] | None = None, cwd: Path | None = None, workers: int = 2, ready_path: str = "/"
    ) -> Gunicorn:
        port = free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                   "--timeout", "30", "--graceful-timeout", "5", "--no-control-socket", app]  # fmt: skip
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=cwd or REPO,
                env=subprocess_env(azure_emulator, env),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append(process)
        server = Gunicorn(process, f"http://127.0.0.1:{port}", log)
        _wait_until_serving(server, ready_path)
        return server

    yield start
    for process in started:
        _stop(process)


def _wait_until_serving(server: Gunicorn, path: str) -> None:
    deadline = time.monotonic() + GUNICORN_STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            requests.get(server.url + path, timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not serve {path} within {GUNICORN_STARTUP_TIMEOUT:.0f} s:\n{server.log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, GUNICORN_STOP_TIMEOUT)
