"""Running a developer's sign-in tool to get a token: shared by the Azure CLI and Visual Studio sources,
which both start a program with the resource (and tenant) on its command line and read a token from its
output.

What every such program gets, whichever source runs it:

- the resource and tenant checked against an allow-list before any process starts
  (``check_tool_request``), and an argument list, never a shell;
- the program found only in absolute folders of the search path (``find_executable``), so a planted
  ``az`` in the working directory is never run;
- a timeout that really kills it and its children (``run_tool``);
- its output read as JSON (``parse_json_output``) and made safe before any of it goes into an error
  message (``sanitize_output``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import InvalidRequestError
from ._base import TokenRequest, is_valid_resource, is_valid_tenant

_MAX_DETAIL = 800  # characters of a tool's stderr kept in an error message


def error_context(request: TokenRequest | None, method: str) -> dict[str, Any]:
    """The keyword arguments of a tool source's error: what was asked (when a request was) and by which method."""
    if request is None:
        return {"method": method}
    return {"resource": request.resource, "authority": request.authority, "method": method}


def check_tool_request(request: TokenRequest, method: str) -> None:
    """Refuse a resource or tenant that could smuggle options or shell syntax onto a command line.

    The argument list already keeps a shell out, but ``az.cmd`` still runs through cmd.exe on Windows,
    and a value starting with ``-`` would be read as an option: the allow-list is the real guard.
    """
    if not is_valid_resource(request.resource) or request.resource.startswith("-"):
        raise InvalidRequestError(
            f"Resource {request.resource!r} is not in the expected format: only letters, digits, "
            "'_', '-', '.', ':' and '/' are allowed (for example https://vault.azure.net).",
            **error_context(request, method),
        )
    if request.tenant_id is not None and (not is_valid_tenant(request.tenant_id) or request.tenant_id.startswith("-")):
        raise InvalidRequestError(
            f"Tenant {request.tenant_id!r} is not in the expected format: only letters, digits, '-' and '.' "
            "are allowed (a tenant GUID or a domain such as contoso.onmicrosoft.com).",
            **error_context(request, method),
        )


def find_executable(name: str, search_path: str) -> str | None:
    """``shutil.which`` over the absolute folders of ``search_path`` only.

    Empty or relative entries (``::``, ``.``) would mean the working directory, and ``which`` on Windows
    (before 3.12) tries the working directory first: either way a planted ``az`` there would run.
    """
    for folder in search_path.split(os.pathsep):
        if not folder or not os.path.isabs(folder):
            continue
        found = shutil.which(name, path=folder)
        if found and _same_folder(os.path.dirname(found), folder):
            return found
    return None


def _same_folder(first: str, second: str) -> bool:
    return os.path.normcase(os.path.abspath(first)) == os.path.normcase(os.path.abspath(second))


def run_tool(argv: Sequence[str], *, env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a program with no shell and no stdin; raises ``subprocess.TimeoutExpired`` after killing it.

    The program gets its own process group so the kill reaches its children too: ``az`` is a script
    that starts Python, and ``subprocess.run`` would kill only the script and leave the rest running.
    """
    posix = os.name == "posix"
    with subprocess.Popen(  # noqa: S603 - an argument list; the arguments were checked by the caller
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=posix,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # the timeout, or Ctrl-C while waiting: never leave the tool behind
            _kill(process, posix)
            raise
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def _kill(process: subprocess.Popen[str], posix: bool) -> None:
    if posix:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    else:
        process.kill()
    process.wait()  # the pipes are closed by Popen.__exit__, even if a grandchild still holds them


def parse_json_output(stdout: str) -> Any:
    """A tool's stdout as JSON; else ``ValueError("the output is not JSON")``, which never quotes it (the
    output may hold a token) and drops the decoder's error (its ``doc`` is the whole output)."""
    try:
        return json.loads(stdout)
    except ValueError:
        raise ValueError("the output is not JSON") from None


# A token or secret as a JSON field, a Python dict repr (MSAL errors) or a form field.
_SECRET_FIELD = re.compile(
    r"""(?P<key>["']?(?:accessToken|access_token|refreshToken|refresh_token|id_token|client_secret)["']?\s*[:=]\s*)"""
    r"""(?:(?P<quote>["'])[^"'\r\n]*(?P=quote)?|[^\s&,;}"']+)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def sanitize_output(text: str, limit: int = _MAX_DETAIL) -> str:
    """A tool's output made safe for an error message: token fields and JWT-looking strings redacted,
    whitespace trimmed, and only the last ``limit`` characters kept (the CLI's ERROR line comes last)."""
    cleaned = _JWT.sub("<redacted token>", _SECRET_FIELD.sub(r"\g<key>\g<quote><redacted>\g<quote>", text)).strip()
    if len(cleaned) > limit:
        cleaned = "... " + cleaned[-limit:]
    return cleaned
