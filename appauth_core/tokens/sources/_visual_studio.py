"""Tokens from the account signed in to Visual Studio (``RunAs=Developer; DeveloperTool=VisualStudio``).

Visual Studio lists its token programs in ``tokenprovider.json``::

    {"TokenProviders": [{"Path": "C:\\\\...\\\\Microsoft.Asal.TokenService.exe",
                         "Arguments": ["--serviceConfigFile", "C:\\\\...\\\\servicehub.config.json"],
                         "Preference": 2}]}

We run them in ascending ``Preference`` as ``[Path, *Arguments, "--resource", R, ("--tenant", T)]``
(Azure.Identity's order) and read ``{"access_token": ..., "expires_on": ...}`` from stdout. Unlike the
.NET library, the file is read again whenever it changes (it cached it per instance and broke after a
Visual Studio update: azure-sdk-for-net#7754), and the error lists every program with its own reason
(.NET keyed them by file name, so one hid another).

Security: whatever the file names runs as the app, and on a server whoever can write the service account's
home could write the file. So a program runs only when it is Visual Studio's token service
(``...\\Common7\\IDE\\CommonExtensions\\Microsoft\\Asal\\TokenService\\Microsoft.Asal.TokenService.exe`` under an
install folder, after links are followed) and the file, the program and every folder above them are
owned by this user or root and writable by nobody else (``program_trust``); otherwise nothing runs and
``UntrustedProgramError`` says why. The default chain uses this source on Windows only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import Attempt, AzureServiceTokenProviderError, SourceUnavailableError, UntrustedProgramError
from ._base import SourceToken, TokenRequest
from ._developer_tools import check_tool_request, error_context, parse_json_output, run_tool, sanitize_output
from ._program_trust import untrusted_reason

DEFAULT_TIMEOUT = 30.0  # seconds per token program: Azure.Identity's VisualStudioCredential limit
TOKEN_PROVIDER_FILE = Path(".IdentityService", "AzureServiceAuth", "tokenprovider.json")
_SIGNED_OUT_CODE = "TS005"  # Azure.Identity treats a token service reply with it as "not available"
_SIGN_IN_HINT = "sign in to Visual Studio (Tools > Options > Azure Service Authentication)"
PLATFORM = {"linux": "Linux", "darwin": "macOS"}.get(sys.platform, sys.platform)
"""This operating system as messages name it ("not on Linux")."""
# Where Visual Studio installs its token service, below the install folder (the Path its tokenprovider.json names).
TOKEN_SERVICE_PATH = ("Common7", "IDE", "CommonExtensions", "Microsoft", "Asal", "TokenService")
TOKEN_SERVICE_EXE = "Microsoft.Asal.TokenService.exe"
_EXPECTED_PROGRAM = "\\".join(("<Visual Studio install folder>", *TOKEN_SERVICE_PATH, TOKEN_SERVICE_EXE))

# ISO 8601 as .NET writes it: up to 7 fraction digits, an optional "Z" or offset.
_ISO = re.compile(
    r"(?P<main>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True)
class TokenProviderEntry:
    """One program from ``tokenprovider.json``."""

    path: str
    arguments: tuple[str, ...]
    preference: int

    @property
    def exe_name(self) -> str:
        """The file name, whichever separator the path uses (the file is written on Windows)."""
        return re.split(r"[\\/]", self.path)[-1]

    @property
    def install_folder(self) -> str:
        """The Visual Studio install folder the program is in (what tells one entry from another)."""
        match = re.search(r"[\\/]Common7[\\/]IDE[\\/]", self.path, flags=re.IGNORECASE)
        return self.path[: match.start()] if match else self.path


class _ProviderFailed(Exception):
    def __init__(self, reason: str, *, signed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signed_out = signed_out


class VisualStudioSource:
    """Gets tokens from Visual Studio's token programs; it caches no tokens, only the parsed file.

    ``cache_identity`` names the token provider file: two files (two users' homes) are two identities.
    """

    name = "Visual Studio"

    def __init__(
        self,
        *,
        token_provider_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``token_provider_file``: default ``%LOCALAPPDATA%\\.IdentityService\\AzureServiceAuth\\
        tokenprovider.json`` on Windows, ``~/.IdentityService/AzureServiceAuth/tokenprovider.json`` elsewhere,
        looked up here, once (it selects whose token this is). ``environ``: where that is looked up and what
        the programs get (default: ``os.environ``)."""
        self._timeout = timeout
        self._environ = environ
        self._file: Path | None = token_provider_file
        self._no_file: SourceUnavailableError | None = None
        if token_provider_file is None:
            try:
                self._file = default_token_provider_file(os.environ if environ is None else environ)
            except SourceUnavailableError as missing:
                self._no_file = missing
        self.cache_identity = f"visual-studio:{self._file or 'no token provider file'}"
        self._parsed: tuple[Path, int, int, int, tuple[TokenProviderEntry, ...]] | None = None

    def get_token(self, request: TokenRequest) -> SourceToken:
        check_tool_request(request, self.name)
        if self._file is None:
            assert self._no_file is not None
            raise self._no_file
        environ = dict(os.environ if self._environ is None else self._environ)
        programs = self._trusted_programs(self._file, self._entries(self._file, request), request)
        failures: list[tuple[TokenProviderEntry, _ProviderFailed]] = []
        for entry, program in programs:
            try:
                return self._run(entry, program, request, environ)
            except _ProviderFailed as failure:
                failures.append((entry, failure))
        raise _all_failed(failures, request)

    # --- the file ------------------------------------------------------------------------------------

    def _entries(self, path: Path, request: TokenRequest) -> tuple[TokenProviderEntry, ...]:
        """The parsed file, read again only when it was replaced or its modification time or size changed;
        its trust is checked on every call (a ``chmod`` changes neither)."""
        try:
            stat = path.stat()
        except OSError:
            raise SourceUnavailableError(_no_file_here(path), **_context(request)) from None
        reason = untrusted_reason(str(path))
        if reason is not None:
            raise UntrustedProgramError(
                f'Refusing the Visual Studio token provider file "{path}": {reason}. Whatever it names would run '
                "as this app, so it must be yours (or an administrator's) and writable by nobody else; nothing "
                "was run. Fix its permissions (and its folders'), or delete it and sign in to Visual Studio again.",
                path=str(path),
                **_context(request),
            )
        cached = self._parsed
        if cached is not None and cached[:4] == (path, stat.st_ino, stat.st_mtime_ns, stat.st_size):
            return cached[4]
        try:
            entries = parse_token_provider_file(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as problem:
            # The file belongs to Visual Studio, not to the app: like Azure.Identity, report the method
            # as unavailable so that a chain goes on to the Azure CLI.
            raise SourceUnavailableError(
                f'Visual Studio token provider file "{path}" is not in the expected format: {problem}. '
                "Repair or update Visual Studio.",
                **_context(request),
            ) from None
        self._parsed = (path, stat.st_ino, stat.st_mtime_ns, stat.st_size, entries)
        return entries

    # --- the programs --------------------------------------------------------------------------------

    def _trusted_programs(
        self, path: Path, entries: Sequence[TokenProviderEntry], request: TokenRequest
    ) -> list[tuple[TokenProviderEntry, str]]:
        """Each installed entry with the program to run (links followed); ``UntrustedProgramError`` when
        any entry is not Visual Studio's token service or could be changed by others (then none runs),
        ``SourceUnavailableError`` when none is installed (an old path after an update is skipped)."""
        refused: list[str] = []
        installed: list[tuple[TokenProviderEntry, str]] = []
        for entry in entries:
            problem = token_service_problem(entry.path)
            if problem is None and os.path.lexists(entry.path):
                program = os.path.realpath(entry.path)
                problem = _program_problem(program)
                if problem is None:
                    installed.append((entry, program))
            if problem is not None:
                refused.append(f"{entry.path} {problem}")
        if refused:
            raise UntrustedProgramError(
                f'Refusing to run the programs listed in the Visual Studio token provider file "{path}": '
                f"{'; '.join(refused)}. Only Visual Studio's own token service ({_EXPECTED_PROGRAM}), changeable "
                "by you or an administrator alone, is run; nothing was run. Repair Visual Studio, or delete the "
                "file and sign in to Visual Studio again.",
                path=str(path),
                **_context(request),
            )
        if not installed:
            listed = ", ".join(entry.path for entry in entries) or "none"
            raise SourceUnavailableError(
                f'No valid Visual Studio token providers were found in the Visual Studio token provider file "{path}"'
                f" (programs listed: {listed}; none exists); update Visual Studio and {_SIGN_IN_HINT}.",
                **_context(request),
            )
        return installed

    def _run(
        self, entry: TokenProviderEntry, program: str, request: TokenRequest, environ: Mapping[str, str]
    ) -> SourceToken:
        argv = [program, *entry.arguments, "--resource", request.resource]
        if request.tenant_id:
            argv += ["--tenant", request.tenant_id]
        try:
            completed = run_tool(argv, env=environ, timeout=self._timeout)
        except subprocess.TimeoutExpired:
            raise _ProviderFailed(f"did not answer within {self._timeout:g} s and was stopped") from None
        except OSError as error:
            raise _ProviderFailed(f"could not be started ({error.strerror or error})") from None
        if completed.returncode != 0:
            output = completed.stderr.strip() or completed.stdout
            raise _ProviderFailed(
                f"exit code {completed.returncode}: {sanitize_output(output) or '(no output)'}",
                signed_out=_SIGNED_OUT_CODE in output,
            )
        try:
            return parse_provider_token(completed.stdout)
        except ValueError as reason:
            raise _ProviderFailed(f"printed something that is not a token ({reason})") from None


def _no_file_here(path: Path) -> str:
    """Why there is no token provider file: on Windows, Visual Studio is not installed or signed in; anywhere
    else it never is (its token service runs on Windows only), so no Windows advice."""
    missing = f'Visual Studio token provider file not found at "{path}"'
    if sys.platform == "win32":
        return f"{missing}; install Visual Studio 2017 or later and {_SIGN_IN_HINT}."
    return (
        f"{missing}: Visual Studio is not on {PLATFORM} (its token service runs on Windows only). Here, sign in "
        "with `az login` and use RunAs=Developer;DeveloperTool=AzureCli."
    )


def default_token_provider_file(environ: Mapping[str, str], *, windows: bool = os.name == "nt") -> Path:
    """Where Visual Studio writes ``tokenprovider.json`` for this user."""
    if windows:
        local_app_data = environ.get("LOCALAPPDATA")
        if not local_app_data:
            raise SourceUnavailableError("Environment variable LOCALAPPDATA not set.", method=VisualStudioSource.name)
        return Path(local_app_data) / TOKEN_PROVIDER_FILE
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / TOKEN_PROVIDER_FILE


def token_service_problem(path: str) -> str | None:
    """Why ``path`` cannot be Visual Studio's token service under an install folder (judged on the text
    alone, whichever separator it uses), or None."""
    if not os.path.isabs(path):
        return "is not an absolute path"  # it would run whatever sits in the working directory
    parts = re.split(r"[\\/]+", path)
    if any(part in (".", "..") for part in parts):
        return "has '.' or '..' in it"
    expected = [part.lower() for part in (*TOKEN_SERVICE_PATH, TOKEN_SERVICE_EXE)]
    if [part.lower() for part in parts[-len(expected) :]] != expected or len(parts) < len(expected) + 2:
        return "is not Visual Studio's token service"
    return None


def _program_problem(program: str) -> str | None:
    """For the program a listed path leads to (after links): the same shape, and nobody else can change it."""
    problem = token_service_problem(program)
    if problem is not None:
        return f"leads to {program}, which {problem}"
    reason = untrusted_reason(program)
    return f"cannot be trusted: {reason}" if reason is not None else None


def parse_token_provider_file(text: str) -> tuple[TokenProviderEntry, ...]:
    """The entries in ascending ``Preference`` (ties keep file order); ``ValueError`` naming the problem."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    providers = document.get("TokenProviders") if isinstance(document, dict) else None
    if not isinstance(providers, list):
        raise ValueError("'TokenProviders' must be a list")
    entries = [_entry(index, raw) for index, raw in enumerate(providers)]
    return tuple(sorted(entries, key=lambda entry: entry.preference))


def _entry(index: int, raw: Any) -> TokenProviderEntry:
    where = f"TokenProviders[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    path, preference, arguments = raw.get("Path"), raw.get("Preference"), raw.get("Arguments")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{where}.Path is missing or not a string")
    if not isinstance(preference, int) or isinstance(preference, bool):
        raise ValueError(f"{where}.Preference is missing or not an integer")
    if arguments is None:
        arguments = []
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        raise ValueError(f"{where}.Arguments must be a list of strings")
    return TokenProviderEntry(path, tuple(arguments), preference)


def parse_provider_token(stdout: str) -> SourceToken:
    """``{"access_token": ..., "expires_on": ...}``; ``ValueError`` (never quoting the token) otherwise."""
    payload = parse_json_output(stdout)
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise ValueError("no access_token")
    return SourceToken(token, parse_expires_on(payload.get("expires_on")))


def parse_expires_on(value: object) -> float:
    """Epoch seconds from what a token program prints: epoch seconds (number or digits), or ISO 8601.

    An ISO time without an offset is read as local time, as .NET's ``DateTimeOffset`` parsing (used by
    both the .NET library and Azure.Identity) does; with ``Z`` or an offset it is exact.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("expires_on is not a finite number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("no expires_on")
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = _ISO.fullmatch(text)
    if match is None:
        raise ValueError("expires_on is neither epoch seconds nor an ISO 8601 time")
    # Python 3.10's fromisoformat takes exactly 6 fraction digits, no "Z" and no "+0100".
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    offset = match["offset"] or ""
    offset = "+00:00" if offset in ("Z", "z") else (f"{offset[:3]}:{offset[-2:]}" if offset else "")
    try:
        moment = dt.datetime.fromisoformat(f"{match['main']}.{fraction}{offset}")
    except ValueError:
        raise ValueError("expires_on is not a valid date") from None
    return moment.timestamp()  # naive: local time


def _context(request: TokenRequest) -> dict[str, Any]:
    return error_context(request, VisualStudioSource.name)


def _all_failed(
    failures: Sequence[tuple[TokenProviderEntry, _ProviderFailed]], request: TokenRequest
) -> AzureServiceTokenProviderError:
    """One error naming each program and its reason; "unavailable" when every one said TS005."""
    attempts = [Attempt(f"Visual Studio token provider in {e.install_folder}", f.reason) for e, f in failures]
    listing = "; ".join(f"{entry.install_folder}: {f.reason}" for entry, f in failures)
    if all(failure.signed_out for _, failure in failures):
        return SourceUnavailableError(
            f"Visual Studio is not signed in ({listing}); {_SIGN_IN_HINT}.", attempts=attempts, **_context(request)
        )
    return AzureServiceTokenProviderError(
        f"Visual Studio could not get a token from its {len(failures)} token provider(s): {listing}. "
        f"If the account needs to sign in again, {_SIGN_IN_HINT}.",
        attempts=attempts,
        **_context(request),
    )
