"""Start-up never locks users out: which ``manage.py`` command is starting, and what it does with
``@Microsoft.KeyVault(...)`` settings that cannot be read (vault down, CA bundle moved, a typo in the
connection string).

- Serving: ``runserver``, a WSGI or ASGI server (gunicorn, uvicorn, mod_wsgi ...), a test runner, a script
  calling ``django.setup()``, and every command not named below. A reference that cannot be read stops the
  process (``appauth_django.resolution``): a reference never stands in for its secret where requests are
  served.
- ``manage.py check``, ``manage.py appauth ...`` and the commands listed in
  ``APPAUTH['COMMANDS_WITHOUT_SECRETS']`` (e.g. ``['collectstatic']`` for image builds) resolve as usual;
  when a reference cannot be read they run with every reference unresolved (its text in place of the
  secret), and the system checks name each one that cannot be read and why: ``appauth.E010``, or
  ``appauth.W003`` for the listed commands, whose own system checks would otherwise stop them.
- ``manage.py help`` (``--help``, ``version``; shell completion) reads nothing: it only prints.
- ``APPAUTH_RESOLVE_REFERENCES=0`` in the environment leaves every reference unresolved in every process
  (builds, CI without an identity): ``appauth.W002`` lists them. ``=1`` resolves even when
  ``APPAUTH['RESOLVE_REFERENCES']`` is False.

Which command runs: Django hands ``ready()`` nothing about it, and ``sys.argv`` (what django-debug-toolbar
reads, ``"test" in sys.argv``) cannot tell ``manage.py check`` from a server started with a look-alike
command line. So the command is known only when Django's command-line utility is what sets Django up: a
``ManagementUtility.execute`` frame among the callers (``manage.py``, ``django-admin``,
``python -m django``), whose ``argv`` is the one it dispatches. Anything else is serving.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.management import ManagementUtility  # type: ignore[import-untyped]

from appauth_core._internal import fork_safety
from appauth_core.errors import AppAuthError
from appauth_core.web import RESOLVE_VARIABLE, ConfigError, resolution_override, unreadable_references

from . import conf, resolution

Mode = Literal["serve", "tolerate", "print"]
TOLERANT_COMMANDS = frozenset({"check", "appauth"})
PRINT_ONLY = frozenset({"help", "version", "--help", "-h", "--version"})
_EXECUTE = ManagementUtility.execute.__code__


def command_line() -> list[str] | None:
    """The arguments after the program name (``['check', '--deploy']``) when Django's command-line utility
    is setting Django up in this call, else None (serving)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _EXECUTE:
            argv = getattr(frame.f_locals.get("self"), "argv", None)
            return [str(arg) for arg in argv[1:]] if isinstance(argv, list) else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


def mode_for(args: list[str] | None, tolerated: Collection[str] = ()) -> Mode:
    """What a process started with ``args`` (``command_line()``) does with references that cannot be read;
    ``tolerated`` is ``APPAUTH['COMMANDS_WITHOUT_SECRETS']``."""
    if args is None:
        return "serve"
    if "DJANGO_AUTO_COMPLETE" in os.environ:  # shell completion: ManagementUtility prints and exits
        return "print"
    if not args or args[0] in PRINT_ONLY:
        return "print"
    options = args[1 : args.index("--")] if "--" in args else args[1:]
    if "-h" in options or "--help" in options:  # argparse prints the command's help and exits
        return "print"
    if args[0] in TOLERANT_COMMANDS or args[0] in tolerated:
        return "tolerate"
    return "serve"


@dataclass
class Outcome:
    """What start-up did, for the system checks: the command it tolerated failures for, and {setting: why}
    for each reference it could not read; ``switch_error`` when ``APPAUTH_RESOLVE_REFERENCES`` is invalid."""

    command: str | None = None
    unreadable: dict[str, str] = field(default_factory=dict)
    switch_error: str | None = None


_lock = threading.Lock()
_outcome = Outcome()
fork_safety.new_lock_in_child(sys.modules[__name__])


def outcome() -> Outcome:
    with _lock:
        return Outcome(_outcome.command, dict(_outcome.unreadable), _outcome.switch_error)


def forget() -> None:
    """For tests."""
    global _outcome
    with _lock:
        _outcome = Outcome()


def resolve_at_startup(args: list[str] | None = None) -> None:
    """``ready()``'s hook: resolve the settings' references as the command allows (see the module
    docstring). ``args`` is ``command_line()``'s (tests pass their own)."""
    mode = mode_for(args, _tolerated())
    if mode == "print" or not _resolution_enabled(mode):
        return
    if mode == "serve":
        resolution.resolve_settings_references()
        return
    try:
        resolution.resolve_settings_references()
    except ImproperlyConfigured:
        pass  # the settings are left untouched: every reference keeps its text
    else:
        return
    assert args is not None
    _record(args[0], _why_unreadable())


def _tolerated() -> frozenset[str]:
    try:
        return conf.commands_without_secrets()
    except ConfigError:  # appauth.E007 reports it; meanwhile no command is let through by a broken setting
        return frozenset()


def resolution_disabled_by() -> str | None:
    """Why references are not resolved, as the user would fix it, or None when they are."""
    try:
        override = resolution_override()
    except ConfigError:
        override = None  # appauth.E011 reports the value; resolution goes ahead
    if override is not None:
        return None if override else f"the environment variable {RESOLVE_VARIABLE} is {os.environ[RESOLVE_VARIABLE]!r}"
    try:
        enabled = conf.read_config().resolve_references
    except AppAuthError:
        return None  # a broken APPAUTH does not turn resolution off (see _resolution_enabled)
    return None if enabled else f"{conf.spell('RESOLVE_REFERENCES')} is False"


def _resolution_enabled(mode: Mode) -> bool:
    try:
        override = resolution_override()
    except ConfigError as error:
        if mode == "serve":
            raise ImproperlyConfigured(str(error)) from None
        with _lock:
            _outcome.switch_error = str(error)
        override = None
    if override is not None:
        return override
    try:
        return conf.read_config().resolve_references
    except AppAuthError:  # references must not stay in place because an unrelated setting has a typo
        return True


def _why_unreadable() -> dict[str, str]:
    references = resolution.unresolved_references()
    try:
        services = conf.get_services()
    except ImproperlyConfigured:
        return {setting: f"{conf.SETTING} is not valid (its own errors say why)" for setting in references}
    unreadable = unreadable_references(services, references)
    # Read on the second try: still reported, since this command runs with the reference in its place.
    return unreadable or {setting: "not read at start-up (it could be read when tried again)" for setting in references}


def _record(command: str, unreadable: Mapping[str, str]) -> None:
    with _lock:
        _outcome.command = command
        _outcome.unreadable = dict(unreadable)


def settings_time_mode(appauth: Mapping[str, Any] | None) -> Mode:
    """``mode_for`` while ``settings.py`` itself is imported (``keyvault_secret()``): ``APPAUTH`` is the dict
    given to it, since Django's settings do not exist yet. "print" also when the environment switch is 0."""
    tolerated = appauth.get("COMMANDS_WITHOUT_SECRETS") if isinstance(appauth, Mapping) else None
    mode = mode_for(command_line(), tolerated if isinstance(tolerated, (list, tuple)) else ())
    try:
        off = resolution_override() is False
    except ConfigError:
        off = False
    return "print" if off else mode
