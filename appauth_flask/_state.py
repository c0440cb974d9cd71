"""Where an app's appauth state lives: ``app.extensions["appauth"]`` (the Flask extension guide's rule),
so one ``AppAuth`` object can serve several apps and nothing stores the app itself; and ``g.appauth``.

``g.appauth`` is bound for each request (``AppAuth.init_app``'s ``before_request``). Where it is not (an app
``init_app`` never saw, or an app context outside a request: a CLI command, a job), ``g`` answers the name
itself: a ``RequestAppAuth`` for an initialised app (kept on ``g`` from then on), else
``AppAuthNotInitialisedError`` saying to call ``init_app``, as Flask-SQLAlchemy does, rather than
``AttributeError: appauth``. Only that one name, and only when ``g`` does not hold it, goes this way.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, current_app, g
from flask.ctx import _AppCtxGlobals
from werkzeug.local import LocalProxy

from appauth_core import AppAuthServices, RequestAppAuth
from appauth_core.errors import AppAuthNotInitialisedError

EXTENSION = "appauth"
# The {setting: reference} init_app found in app.config: resolving replaced them, and `flask appauth check`
# must still be able to try them again.
REFERENCES = "appauth.references"


def services_for(app: Flask) -> AppAuthServices:
    """``app``'s services; ``AppAuthNotInitialisedError`` when ``init_app`` never saw ``app``."""
    try:
        services: AppAuthServices = app.extensions[EXTENSION]
    except KeyError:
        raise AppAuthNotInitialisedError(
            f"appauth is not initialised on the app {app.name!r}: call appauth.init_app(app) where the app is "
            "created (in the app factory), or create the extension as AppAuth(app)."
        ) from None
    return services


def references_for(app: Flask) -> dict[str, str]:
    references: dict[str, str] = app.extensions.get(REFERENCES, {})
    return references


def _appauth_on_g(namespace: _AppCtxGlobals) -> RequestAppAuth:
    """``g.appauth`` where no request bound it (see the module docstring)."""
    facade = RequestAppAuth(services_for(current_app))
    namespace.__dict__["appauth"] = facade
    return facade


def _explain_missing_appauth() -> None:
    """``_AppCtxGlobals.__getattr__`` (Flask's answer for a name ``g`` does not hold: ``AttributeError(name)``)
    answers ``appauth`` itself. A class attribute would not do: Python hands an ``AttributeError`` raised by a
    descriptor to ``__getattr__``, which would replace the advice with Flask's bare one."""
    flask_getattr = _AppCtxGlobals.__getattr__
    if getattr(flask_getattr, "_appauth", False):
        return

    def __getattr__(self: _AppCtxGlobals, name: str) -> Any:
        if name == "appauth":
            return _appauth_on_g(self)
        return flask_getattr(self, name)

    __getattr__._appauth = True  # type: ignore[attr-defined]
    _AppCtxGlobals.__getattr__ = __getattr__  # type: ignore[method-assign]


_explain_missing_appauth()


def _current_appauth() -> RequestAppAuth:
    return cast(RequestAppAuth, g.appauth)


# Typed as what it stands for, as Flask types current_app: a typo (current_appauth.secrt) fails mypy.
current_appauth: RequestAppAuth = LocalProxy(_current_appauth)  # type: ignore[assignment]
"""``g.appauth``, typed as ``RequestAppAuth``: in a request, and in any app context of an initialised app
(CLI commands, jobs); ``AppAuthNotInitialisedError`` on an app ``init_app`` never saw."""
