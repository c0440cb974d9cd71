"""Tokens from the Azure CLI the developer signed in to (``RunAs=Developer; DeveloperTool=AzureCLI``).

Runs ``az account get-access-token --output json --resource R [--tenant T]`` and reads its JSON. What we
do differently from the .NET library (``AzureCliAccessTokenProvider``):

- an argument list, never ``bash -c`` / ``cmd /c`` with the resource pasted into a string, and the resource
  and tenant checked against an allow-list before any process starts;
- ``--tenant`` is passed on (.NET dropped it: azure-sdk-for-net#6377);
- the user's ``PATH`` is kept, with ``AzureCLIPath`` in front (before 1.6 .NET replaced it: #7455);
- the timeout really kills the CLI, and every way of failing has its own message saying what to do;
- the ``az`` found runs only when only this user or root can have put it there and changed it (the file,
  after links, and every folder above it: ``program_trust``), else ``UntrustedProgramError`` and nothing
  runs; a planted ``az`` in a folder others can write to would otherwise run as the app;
- ``cache_identity`` names the CLI's configuration folder (``AZURE_CONFIG_DIR``, else ``~/.azure``), which
  is what holds the signed-in account: two folders are two identities. It is settled when the source is
  made and given to the CLI explicitly, so the token cached is the one that folder's account got.

How the CLI is found, run and its output cleaned (``developer_tools``) is shared with the Visual Studio
source, which runs a program the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import AzureServiceTokenProviderError, SourceUnavailableError, UntrustedProgramError
from ._base import SourceToken, TokenRequest
from ._developer_tools import (
    check_tool_request,
    error_context,
    find_executable,
    parse_json_output,
    run_tool,
    sanitize_output,
)
from ._program_trust import untrusted_reason

CLI_PATH_VARIABLE = "AzureCLIPath"  # the .NET library's name for the folder that holds az
CONFIG_DIR_VARIABLE = "AZURE_CONFIG_DIR"  # azure-cli's own: where the signed-in account is kept
DEFAULT_TIMEOUT = 20.0  # seconds: the .NET ProcessManager's limit

# `az` prints expiresOn in the machine's local time with no offset (azure-cli profile/custom.py).
_EXPIRES_ON_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class CliAccount:
    """Who ``az`` is signed in as (``az account show``): what a "who am I" page can show."""

    user_name: str
    user_type: str  # "user" or "servicePrincipal"
    tenant_id: str
    subscription_id: str
    cloud_name: str


class AzureCliSource:
    """Gets tokens by running the Azure CLI; it caches nothing (the provider's cache sits in front)."""

    name = "Azure CLI"

    def __init__(
        self, *, cli_path: str | None = None, timeout: float = DEFAULT_TIMEOUT, environ: Mapping[str, str] | None = None
    ) -> None:
        """``cli_path``: a folder searched before ``PATH`` (default: the ``AzureCLIPath`` variable).
        ``environ``: the environment to search and to give the CLI (default: ``os.environ`` at call time);
        its configuration folder is read from it here, once."""
        self._cli_path = cli_path
        self._timeout = timeout
        self._environ = environ
        self.config_dir = cli_config_dir(os.environ if environ is None else environ)
        self.cache_identity = f"azure-cli:{self.config_dir}"

    def get_token(self, request: TokenRequest) -> SourceToken:
        check_tool_request(request, self.name)
        args = ["account", "get-access-token", "--output", "json", "--resource", request.resource]
        if request.tenant_id:
            args += ["--tenant", request.tenant_id]
        completed = self._run(args, request)
        if completed.returncode != 0:
            raise self._failure(completed, request)
        try:
            return parse_cli_token(completed.stdout)
        except ValueError as reason:
            raise AzureServiceTokenProviderError(
                f"Azure CLI printed something that is not a token ({reason}); run "
                f"`az account get-access-token --resource {request.resource}` in a terminal to see what it says.",
                **error_context(request, self.name),
            ) from None

    def signed_in_account(self) -> CliAccount | None:
        """The account ``az`` is signed in as, or None when it is not signed in."""
        completed = self._run(["account", "show", "--output", "json"], None)
        if completed.returncode != 0:
            failure = self._failure(completed, None)
            if isinstance(failure, SourceUnavailableError) and _is_signed_out(completed.stderr):
                return None
            raise failure
        try:
            return _parse_account(completed.stdout)
        except (ValueError, KeyError, TypeError):
            raise AzureServiceTokenProviderError(
                "`az account show` printed something unexpected.", method=self.name
            ) from None

    # --- running az ----------------------------------------------------------------------------------

    def _environment(self) -> tuple[dict[str, str], str]:
        """The CLI's environment and the search path: ``AzureCLIPath`` first, then the user's ``PATH``."""
        environ = dict(os.environ if self._environ is None else self._environ)
        cli_path = self._cli_path if self._cli_path is not None else environ.get(CLI_PATH_VARIABLE, "")
        search = os.pathsep.join(part for part in (cli_path, environ.get("PATH", "")) if part)
        # No colour codes in the JSON; AZURE_CORE_COLLECT_TELEMETRY is the user's choice and left alone.
        environ.update({"PATH": search, "AZURE_CORE_NO_COLOR": "true", CONFIG_DIR_VARIABLE: self.config_dir})
        return environ, search

    def _run(self, args: Sequence[str], request: TokenRequest | None) -> subprocess.CompletedProcess[str]:
        environ, search = self._environment()
        found = find_executable("az", search)
        if found is None:
            raise _not_installed(request, self.name)
        executable = os.path.realpath(found)  # what runs is what was checked, even if a link is swapped
        reason = untrusted_reason(executable)
        if reason is not None:
            raise UntrustedProgramError(
                f"Refusing to run the Azure CLI at {found}: {reason}. It would run as this app, so only you (or an "
                f"administrator) may be able to change it; nothing was run. Fix the permissions, or set "
                f"{CLI_PATH_VARIABLE} to the folder of an az installed for you alone.",
                path=found,
                **error_context(request, self.name),
            )
        try:
            return run_tool([executable, *args], env=environ, timeout=self._timeout)
        except subprocess.TimeoutExpired:
            raise AzureServiceTokenProviderError(
                f"Azure CLI did not answer within {self._timeout:g} s and was stopped. Run "
                f"`az {' '.join(args[:2])}` in a terminal to see why (a prompt, a slow network), "
                "or give the source a longer timeout.",
                **error_context(request, self.name),
            ) from None
        except OSError as error:
            raise SourceUnavailableError(
                f"Azure CLI at {executable} could not be started ({error.strerror or error}); reinstall it "
                f"or set {CLI_PATH_VARIABLE} to the folder of a working az.",
                **error_context(request, self.name),
            ) from None

    def _failure(
        self, completed: subprocess.CompletedProcess[str], request: TokenRequest | None
    ) -> AzureServiceTokenProviderError:
        """The error for a non-zero exit: not installed, not signed in, or a real failure (with stderr)."""
        stderr = completed.stderr or ""
        # 127: a shell found no az; "'az' is not recognized": cmd.exe running az.cmd without Python.
        if completed.returncode == 127 or stderr.lstrip().startswith("'az' is not recognized"):
            return _not_installed(request, self.name)
        detail = sanitize_output(stderr or completed.stdout or "")
        if _is_signed_out(stderr):
            return SourceUnavailableError(
                f"Azure CLI is not signed in: run `az login` (and `az account set` to choose a subscription). "
                f"Azure CLI said: {detail}",
                **error_context(request, self.name),
            )
        return AzureServiceTokenProviderError(
            f"Azure CLI could not get a token (exit code {completed.returncode}): {detail or '(no output)'}",
            **error_context(request, self.name),
        )


def cli_config_dir(environ: Mapping[str, str], *, windows: bool = os.name == "nt") -> str:
    """Where ``az`` keeps its signed-in account: ``AZURE_CONFIG_DIR``, else ``.azure`` in the home folder
    (``USERPROFILE`` on Windows, ``HOME`` elsewhere), as azure-cli's ``GLOBAL_CONFIG_DIR``."""
    configured = (environ.get(CONFIG_DIR_VARIABLE) or "").strip()
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    home = (environ.get("USERPROFILE" if windows else "HOME") or "").strip() or os.path.expanduser("~")
    return os.path.join(os.path.abspath(home), ".azure")


def _is_signed_out(stderr: str) -> bool:
    """azure-identity's rule: the CLI asks for `az login` / `az account set`, and Entra ID said nothing
    (an AADSTS code means the CLI is signed in but Entra refused, which a new login may not fix)."""
    return ("az login" in stderr or "az account set" in stderr) and "AADSTS" not in stderr


def _not_installed(request: TokenRequest | None, method: str) -> SourceUnavailableError:
    return SourceUnavailableError(
        f"Azure CLI not found on PATH; install it or set {CLI_PATH_VARIABLE} to the folder that holds az.",
        **error_context(request, method),
    )


# --- reading the CLI's output ----------------------------------------------------------------------


def parse_cli_token(stdout: str) -> SourceToken:
    """The token in ``az account get-access-token`` output; ``ValueError`` (never quoting it) if none.

    ``expires_on`` (epoch seconds, CLI 2.54+) is preferred; older CLIs only print ``expiresOn`` in local
    time without an offset, which is read as local time (ambiguous for one hour when DST ends).
    """
    payload = parse_json_output(stdout)
    if not isinstance(payload, dict):
        raise ValueError("the output is not a JSON object")
    token = payload.get("accessToken")
    if not isinstance(token, str) or not token:
        raise ValueError("no accessToken")
    token_type = payload.get("tokenType")
    return SourceToken(token, _expiry(payload), token_type if isinstance(token_type, str) and token_type else "Bearer")


def _expiry(payload: Mapping[str, Any]) -> float:
    epoch = payload.get("expires_on")
    if epoch is not None and not isinstance(epoch, bool):
        try:
            seconds = float(epoch)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds):
            raise ValueError("expires_on is not a number")
        return seconds
    local = payload.get("expiresOn")
    if not isinstance(local, str):
        raise ValueError("no expires_on or expiresOn")
    for fmt in _EXPIRES_ON_FORMATS:
        try:
            return dt.datetime.strptime(local, fmt).timestamp()  # naive: local time, as the CLI wrote it
        except ValueError:
            continue
    raise ValueError("expiresOn is not a date in the CLI's format")


def _parse_account(stdout: str) -> CliAccount:
    account = json.loads(stdout)
    user = account["user"]
    return CliAccount(
        user_name=str(user["name"]),
        user_type=str(user["type"]),
        tenant_id=str(account["tenantId"]),
        subscription_id=str(account["id"]),
        cloud_name=str(account.get("environmentName", "")),
    )
