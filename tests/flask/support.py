"""Helpers shared by the Flask tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES, AzureEmulator

REPO = Path(__file__).resolve().parents[2]


def reference(vault_url: str, name: str) -> str:
    return f"@Microsoft.KeyVault(SecretUri={vault_url}secrets/{name})"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def subprocess_env(emulator: AzureEmulator, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any token-source variables, pointed at the emulator."""
    base = {
        name: value
        for name, value in os.environ.items()
        if name not in SOURCE_SELECTING_VARIABLES and not name.startswith("FLASK_")
    }
    return {**base, **emulator.process_env(), "PYTHONPATH": str(REPO), **(extra or {})}
