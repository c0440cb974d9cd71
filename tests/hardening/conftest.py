"""Fixtures shared by the hardening suites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from appauth_core.testing import AzureEmulator


@pytest.fixture
def django_appauth(settings: Any, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> Iterator[Any]:
    """Django's settings (pytest-django's ``settings``) with ``APPAUTH`` pointing at the emulator's vault, and
    appauth's Django state (services, resolved references, remembered secret values) fresh before and after.
    The test module must have configured Django (``import tests.django.conftest``)."""
    from appauth_django import conf, resolution, secret_values

    conf.reload()
    settings.APPAUTH = {"KEY_VAULT_URL": azure_emulator.vault.url}
    yield settings
    conf.reload()
    resolution.forget()
    secret_values.forget_all()
