"""The real Azure CLI signed in to the emulator, for testing code that uses ``RunAs=Developer;DeveloperTool=AzureCli``.

``signed_in_azure_cli(emulator)`` registers the emulator as a custom cloud in a configuration folder of its
own, logs its service principal in, and yields the environment in which ``az account get-access-token``
answers with the emulator's tokens. The developer's own ``az`` configuration is never read or written.

The CLI is kept off the internet by a dead proxy (``dead_proxy``): a loopback port that is bound but never
listens, loopback itself exempt through ``NO_PROXY``. The real ``az`` checks for updates at
``azcliprod.blob.core.windows.net`` whenever its version cache is empty (so on every first run), and would
start a DNS lookup for it; through the proxy that call, and any other stray one, is refused at once on
loopback instead of leaving the machine or waiting on a resolver.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .emulator import SOURCE_SELECTING_VARIABLES, AzureEmulator

EMULATOR_CLOUD = "AppAuthEmulator"  # the cloud name `az cloud list` / `az account show` report
SIGN_IN_TIMEOUT = 120.0  # seconds for one set-up `az` command; each takes well under 2 s on a laptop

# What would hand the CLI someone's credentials, configuration or proxy.
_DROPPED_PREFIXES = ("AZURE_", "ARM_", "MSI_", "IDENTITY_", "IMDS_", "AZUREPS_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_LOOPBACK = "127.0.0.1,localhost,::1"


@contextmanager
def dead_proxy() -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>``, a port bound (so nobody else gets it) that never listens:
    every connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def signed_in_azure_cli(
    emulator: AzureEmulator,
    az_path: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
) -> Iterator[dict[str, str]]:
    """Yield an environment in which ``az`` is signed in to the running ``emulator`` as ``emulator.app``.

    ``az_path``: the ``az`` program (default: the one on ``PATH``). In the environment it is the ``az`` found
    first on ``PATH``, so ``subprocess.run(["az", ...], env=...)``, appauth's Azure CLI source
    (``AzureServiceTokenProvider(..., environ=...)``) and azure-identity's ``AzureCliCredential`` all run it.
    ``config_dir``: the CLI's ``AZURE_CONFIG_DIR``, kept afterwards; by default a temporary folder removed
    on exit. Variables that would select another identity (``AZURE_*``, ``MSI_*``, ``IDENTITY_*`` ...) and
    the caller's proxies are left out; ``REQUESTS_CA_BUNDLE`` makes the CLI trust the emulator's CA.
    Raises ``RuntimeError`` when a set-up command fails (its output says why; the secret is never shown).
    """
    az = _resolve_az(az_path)
    with (
        tempfile.TemporaryDirectory(prefix="appauth-az-", ignore_cleanup_errors=True) as scratch,
        dead_proxy() as proxy,
    ):
        # A folder holding only `az`, first on PATH: a virtualenv's bin (where pip installs az) would
        # otherwise put its python and pip ahead of the caller's.
        bin_dir = Path(scratch, "bin")
        bin_dir.mkdir()
        (bin_dir / "az").symlink_to(az)
        configuration = Path(config_dir) if config_dir is not None else Path(scratch, "azure-config")
        configuration.mkdir(parents=True, exist_ok=True)
        environ = azure_cli_environ(emulator, configuration, proxy, bin_dir=bin_dir)
        _sign_in(az, environ, emulator)
        yield environ


def _resolve_az(az_path: str | os.PathLike[str] | None) -> Path:
    found = os.fspath(az_path) if az_path is not None else shutil.which("az")
    if found is None or not Path(found).is_file():
        raise FileNotFoundError(
            f"the Azure CLI was not found at {found or 'any folder on PATH'}: install it or pass az_path"
        )
    return Path(found).resolve()


def azure_cli_environ(
    emulator: AzureEmulator, config_dir: Path, proxy: str, *, bin_dir: Path | None = None
) -> dict[str, str]:
    """The environment ``signed_in_azure_cli`` runs ``az`` in, before any sign-in: for tests of the set-up
    steps themselves. ``proxy``: a ``dead_proxy()``; ``bin_dir``: a folder to put first on PATH."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in SOURCE_SELECTING_VARIABLES
        and not name.upper().startswith(_DROPPED_PREFIXES)
        and name.lower() not in _PROXY_VARIABLES
    }
    environ.update(
        {
            "PATH": os.pathsep.join(part for part in (str(bin_dir or ""), os.environ.get("PATH", "")) if part),
            "AZURE_CONFIG_DIR": str(config_dir),
            "REQUESTS_CA_BUNDLE": str(emulator.ca_bundle_path),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_CORE_ONLY_SHOW_ERRORS": "true",  # no warnings mixed into output a caller parses
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):  # either spelling may be read
        environ[name] = proxy
    environ["NO_PROXY"] = environ["no_proxy"] = _LOOPBACK
    return environ


def _sign_in(az: Path, environ: dict[str, str], emulator: AzureEmulator) -> None:
    """The emulator as the current cloud (``cloud register`` reads its ARM metadata), then a service-principal
    login; the emulator's ARM lists one subscription, so no ``--allow-no-subscriptions``."""
    app = emulator.app
    commands = [
        ["cloud", "register", "--name", EMULATOR_CLOUD, "--endpoint-resource-manager", emulator.authority],
        ["cloud", "set", "--name", EMULATOR_CLOUD],
        # The CLI leaves MSAL's instance discovery on for custom clouds; it would ask login.microsoftonline.com.
        ["config", "set", "core.instance_discovery=false"],
        # --password attached: a generated secret may begin with "-".
        ["login", "--service-principal", "--username", app.app_id, f"--password={app.secrets[0]}",
         "--tenant", emulator.tenant_id],
    ]  # fmt: skip
    for args in commands:
        completed = subprocess.run(  # noqa: S603 (the caller's az, an argument list)
            [str(az), *args], env=environ, capture_output=True, text=True, timeout=SIGN_IN_TIMEOUT, check=False
        )
        if completed.returncode != 0:  # only the command group is named: the arguments hold a secret
            raise RuntimeError(f"`az {' '.join(args[:2])}` exited {completed.returncode}: {completed.stderr.strip()}")
