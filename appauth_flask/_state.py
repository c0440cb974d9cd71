"""Where an app's appauth state lives: ``app.extensions["appauth"]`` (the Flask extension guide's rule),
so one ``AppAuth`` object can serve several apps and nothing stores the app itself."""

from __future__ import annotations

from flask import Flask

from appauth_core.services import AppAuthServices

EXTENSION = "appauth"
# The {setting: reference} init_app found in app.config: resolving replaced them, and `flask appauth check`
# must still be able to try them again.
REFERENCES = "appauth.references"


def services_for(app: Flask) -> AppAuthServices:
    try:
        services: AppAuthServices = app.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError(
            f"appauth is not initialised on the app {app.name!r}: call appauth.init_app(app) in your app factory."
        ) from None
    return services


def references_for(app: Flask) -> dict[str, str]:
    references: dict[str, str] = app.extensions.get(REFERENCES, {})
    return references
