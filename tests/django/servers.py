"""Real gunicorn (WSGI) and uvicorn (ASGI) processes serving the test site, for the fixtures in
``test_servers.py`` and ``test_startproject.py``: loopback only, bounded startup wait, killed after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import stop_process

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gunicorn_command(app: str, port: int, workers: int = 2) -> list[str]:
    return [str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "30"]


def uvicorn_command(app: str, port: int) -> list[str]:
    return [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]


@contextmanager
def serving(command: Sequence[str], port: int, *, env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """Start ``command``, wait (bounded) until it answers HTTP on ``port``, yield its base URL, stop it."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        wait_until_serving(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before serving:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /untouched HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, STOP_TIMEOUT)


def site_env(emulator_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The emulator's process environment (App Service managed identity, its CA) on top of a clean one."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {**keep, **emulator_env, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", **extra}
