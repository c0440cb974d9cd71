"""Fixtures for the rotation-event tests: the webhook's API registered in the emulator (with Event Grid
holding its app role), Flask apps served for real on a loopback port, and a redis-server these tests may
stop and start again on the same port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from appauth_core.events import EVENT_GRID_ROLE
from appauth_core.testing.emulator import AzureEmulator
from tests.conftest import stop_process
from tests.events.flask_site import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def webhook_api(azure_emulator: AzureEmulator) -> Any:
    """The webhook's app registration (an App ID URI of its own per test), whose app role
    ``AzureEventGridSecureWebhookSubscriber`` is assigned to Event Grid, as Microsoft's set-up script does."""
    api = azure_emulator.register_api(f"api://appauth-events-{uuid.uuid4().hex[:8]}", roles=(EVENT_GRID_ROLE,))
    azure_emulator.assign_role(api, azure_emulator.event_grid.principal, EVENT_GRID_ROLE)
    return api


@pytest.fixture
def flask_config(azure_emulator: AzureEmulator, webhook_api: Any) -> dict[str, Any]:
    """A Flask app's config for the emulator's vault with events on and an hour's TTL."""
    return {
        "APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,
        "APPAUTH_SECRET_CACHE_SECONDS": 3600,
        "APPAUTH_EVENTS_AUDIENCE": webhook_api.app_id_uri,
        "APPAUTH_EVENTS_TENANT_ID": azure_emulator.tenant_id,
        "APPAUTH_EVENTS_AUTHORITY": azure_emulator.authority,
    }


@pytest.fixture
def serve_flask(azure_emulator_env: dict[str, str]) -> Iterator[Callable[..., str]]:
    """``serve_flask(**config)``: ``tests.events.flask_site`` served by werkzeug on a loopback port (threads),
    its base URL returned; every server is shut down after the test."""
    servers = []

    def serve(**config: Any) -> str:
        server = make_server("127.0.0.1", 0, create_app(**config), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class RedisServer:
    """A redis-server on a fixed loopback port that a test may stop and start again (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                   "--dir", str(self._workdir), "--protected-mode", "yes"]  # fmt: skip
        log = (self._workdir / "redis.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not listen on {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, 10)
            self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something true (bounded); ``AssertionError`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {condition}")
