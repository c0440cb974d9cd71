"""In the version matrix (noxfile.py), the suite runs against the installed wheel, not the checkout.

nox sets ``APPAUTH_TEST_INSTALLED`` to the wheel it installed; elsewhere (``make pytest``, where the
checkout is installed in editable mode) there is nothing to check.
"""

from __future__ import annotations

import importlib
import os
import sysconfig
from pathlib import Path

import pytest

WHEEL = os.environ.get("APPAUTH_TEST_INSTALLED")
PACKAGES = ["appauth_core", "appauth_django", "appauth_flask"]

pytestmark = pytest.mark.skipif(not WHEEL, reason="only in `make matrix`, which runs the suite on the built wheel")


@pytest.mark.parametrize("name", PACKAGES)
def test_appauth_is_imported_from_site_packages(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] == name:
            raise
        pytest.skip(f"{name} needs {error.name}, which this session does not install")
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert module.__file__ is not None
    location = Path(module.__file__).resolve()
    assert location.is_relative_to(site_packages), f"{name} came from {location}, not from the wheel {WHEEL}"
