"""What ``import appauth_core`` leaves for later: the heavy modules only some processes need are imported when
first used, so a process that only reads a cached token or a secret does not pay for them (bench 7 measures the
import against azure-identity's). A fresh interpreter each, so nothing imported by the suite counts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DEFERRED = {
    "cryptography": "the first token validation or certificate",
    "jwt": "the first signing-key set",
    "asyncio": "the first async call",
    "azure.keyvault.secrets": "the first vault client",
}


@pytest.mark.parametrize("package", ["appauth_core", "appauth_core.validation", "appauth_core.calls"])
def test_importing_the_core_leaves_the_heavy_modules_for_their_first_use(package: str) -> None:
    code = f"import json, sys; import {package}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                                           check=True).stdout))  # fmt: skip
    imported_early = {module: when for module, when in DEFERRED.items() if module in loaded}
    assert imported_early == {}, f"imported with {package}, although needed only at: {imported_early}"
