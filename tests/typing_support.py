"""``mypy --strict`` on a user's module, for the typed-accessor tests of both adapters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def mypy_strict(source: str, tmp_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``source`` saved as ``<module>.py``, appauth imported as an installed package would
    be (its own modules are not the user's to fix: errors there are not reported)."""
    (tmp_path / f"{module}.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"),
         f"{module}.py"],
        cwd=tmp_path, env={"MYPYPATH": str(REPO), "PATH": ""}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
