"""What an emulator with a kept state folder (``--state-dir``) saves for the next one: the values its env
file hands to apps (tenant, service principal, managed-identity header, control key). With the CA kept
beside them (``_tls``) and fixed ports (``--port``), a restarted emulator writes the same env file, so an app
that read the previous one keeps working without being restarted or re-sourced.

The token-signing key is not kept: a token issued before the restart is refused with 401 and renewed, as
after a key rollover in Entra ID.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

STATE_FILE = "emulator-state.json"


@dataclass(frozen=True)
class SavedState:
    tenant_id: str
    app_id: str
    app_secret: str
    identity_header: str
    control_key: str

    def __repr__(self) -> str:  # the secret and the keys stay out of reprs and tracebacks
        return f"SavedState(tenant_id={self.tenant_id!r}, app_id={self.app_id!r})"


def load(directory: Path) -> SavedState | None:
    """The state an earlier emulator saved in ``directory``; None if there is none. ``ValueError`` naming the
    file when it is not one this module wrote (delete it to start afresh)."""
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return SavedState(**{field.name: str(data[field.name]) for field in fields(SavedState)})
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not an emulator state file; delete it to start with a new state") from None


def save(directory: Path, state: SavedState) -> None:
    write_private(directory / STATE_FILE, json.dumps(asdict(state), indent=2).encode())


def write_private(path: Path, data: bytes) -> None:
    """``data`` in a file only its owner can read from the first byte on, replaced atomically (keys, the
    service principal's secret)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    partial.replace(path)
