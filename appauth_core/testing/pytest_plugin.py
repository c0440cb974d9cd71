"""pytest fixtures for the local Azure emulator (registered through the ``pytest11`` entry point).

- ``azure_emulator_session``: one emulator for the whole run (started on first use).
- ``azure_emulator``: the same emulator, with faults and request counters cleared around each test.
- ``azure_emulator_env``: points this process at the emulator (App Service managed identity, IMDS
  override, CA bundle for requests) and restores the environment afterwards.

Nothing is imported or started unless a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .emulator import AzureEmulator


@pytest.fixture(scope="session")
def azure_emulator_session() -> Iterator[AzureEmulator]:
    from .emulator import AzureEmulator

    with AzureEmulator() as emulator:
        yield emulator


@pytest.fixture
def azure_emulator(azure_emulator_session: AzureEmulator) -> Iterator[AzureEmulator]:
    azure_emulator_session.faults.clear()
    azure_emulator_session.counters.reset()
    yield azure_emulator_session
    from appauth_core._internal.single_flight import wait_for_background_refreshes

    wait_for_background_refreshes()  # a refresh still under way belongs to this test, not to the next
    azure_emulator_session.faults.clear()
    azure_emulator_session.counters.reset()


@pytest.fixture
def azure_emulator_env(azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from .emulator import SOURCE_SELECTING_VARIABLES

    for name in SOURCE_SELECTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = azure_emulator.process_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
