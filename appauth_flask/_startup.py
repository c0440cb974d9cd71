"""``init_app``'s resolution of ``@Microsoft.KeyVault(...)`` config values, except while Flask's CLI loads the
app to find ``flask appauth ...`` (or to list the commands, ``flask --help``): a value that cannot be read
then leaves every reference unresolved, and ``flask appauth`` says which key failed, instead of a traceback
from click's command lookup. ``flask run``, ``flask routes``, any other command and every WSGI or ASGI server
still stop at ``init_app``: a reference never stands in for its secret where requests are served.

Which command the app is loaded for: Flask hands the app factory nothing about it, so it is read from the
``FlaskGroup.get_command`` (or ``list_commands``) call that loads the app, among the callers of ``init_app``;
when there is none, the app serves. ``flask run`` and ``flask routes`` are Flask's own commands, found before
the app is loaded, so they load it from inside the command, where no lookup is under way.
"""

from __future__ import annotations

import sys

from flask import Flask
from flask.cli import FlaskGroup

from appauth_core.web import AppAuthServices, ReferenceResolutionError

from ._references import resolve_config_references

COMMAND = "appauth"
UNREAD = "appauth.unread"  # app.extensions key: why the references are left unresolved in this command
_GET_COMMAND = FlaskGroup.get_command.__code__
_LIST_COMMANDS = FlaskGroup.list_commands.__code__


def loading_for_appauth_command() -> bool:
    """True while Flask's CLI loads the app to run ``flask appauth ...`` or to list its commands."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _GET_COMMAND:
            return frame.f_locals.get("name") == COMMAND
        if frame.f_code is _LIST_COMMANDS:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def resolve_at_init(app: Flask, services: AppAuthServices) -> None:
    """``resolve_config_references``, tolerated by ``flask appauth`` (see the module docstring)."""
    if not loading_for_appauth_command():
        resolve_config_references(app, services)
        return
    try:
        resolve_config_references(app, services)
    except ReferenceResolutionError as error:  # app.config is untouched: every reference keeps its text
        app.extensions[UNREAD] = (
            f"{error.setting} could not be read when the app loaded, so app.config keeps its "
            f"@Microsoft.KeyVault(...) references in this command (`flask appauth check` tries each): {error.reason}"
        )


def unread_note(app: Flask) -> str | None:
    """Why ``app.config`` still holds its references in this ``flask appauth`` command, or None."""
    note: str | None = app.extensions.get(UNREAD)
    return note
