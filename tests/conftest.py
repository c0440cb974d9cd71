"""Shared test fixtures. The emulator fixtures come from appauth's own pytest plugin (entry point)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]  # to run a user's test suite against our pytest plugin


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
