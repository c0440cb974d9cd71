"""Shared test fixtures. The emulator fixtures come from appauth's own pytest plugin (entry point)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appauth_core.testing._processes import stop_process
from appauth_core.testing.emulator import AzureEmulator

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester", "tests.canaries"]  # pytester: a user's suite against our plugin; leak canaries


def _external_tool(variable: str, default: Path, what: str) -> Path:
    """A real third-party program that `make test` installs; missing it fails under `make test`
    (APPAUTH_REQUIRE_TOOLS=1) and skips in a bare `pytest` run on a laptop."""
    path = Path(os.environ.get(variable) or default)
    if path.exists():
        return path
    message = f"{what} not found at {path}; run `make test` (it installs it) or set {variable}"
    if os.environ.get("APPAUTH_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def az_cli() -> Path:
    return _external_tool("APPAUTH_AZ_CLI", REPO / ".tools" / "azure-cli" / "bin" / "az", "the Azure CLI")


@pytest.fixture(scope="session")
def azurite_blob() -> Path:
    return _external_tool(
        "APPAUTH_AZURITE_BLOB", REPO / ".tools" / "node" / "node_modules" / ".bin" / "azurite-blob", "Azurite"
    )


AZURITE_STARTUP_TIMEOUT = 30.0
AZURITE_STOP_TIMEOUT = 10.0
AZURITE_ACCOUNT = "devstoreaccount1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + AZURITE_STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with {process.returncode} before listening:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"Azurite did not listen on 127.0.0.1:{port} within {AZURITE_STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def azurite(
    azurite_blob: Path, azure_emulator_session: AzureEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Azurite's blob service over HTTPS with the emulator's server certificate; yields the account URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    tls = azure_emulator_session.tls
    command = [
        str(azurite_blob),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--oauth", "basic",
        "--cert", str(tls.cert_path),
        "--key", str(tls.key_path),
        "--inMemoryPersistence",
        "--disableTelemetry",  # otherwise it reports to the internet
        "--skipApiVersionCheck",  # azure-storage-blob's default API version is newer than Azurite's
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_listening(process, port, log)
        yield f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    finally:
        stop_process(process, AZURITE_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a loopback port for the run (Debian package, installed by `make test`)."""
    import shutil

    binary = shutil.which("redis-server")
    server = _external_tool("APPAUTH_REDIS_SERVER", Path(binary or "/usr/bin/redis-server"), "redis-server")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    command = [str(server), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", str(workdir), "--protected-mode", "yes"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"redis-server exited with {process.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not listen on 127.0.0.1:{port}:\n{log.read_text()}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
