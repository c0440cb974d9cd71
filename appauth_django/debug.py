"""``AppAuthExceptionReporterFilter``: Django's debug page and error e-mails without appauth's secrets.

Django's ``SafeExceptionReporterFilter`` hides settings and ``request.META`` entries by *name*, and hides
``sensitive_variables`` frames only when ``DEBUG`` is off. That leaves, for an app using appauth:

- ``APPAUTH['CONNECTION_STRING']`` (it may hold an ``AppKey``) on Django < 5.0, whose pattern lacks AUTH;
- secrets resolved from Key Vault into settings whose names do not look secret (``SENTRY_DSN``,
  ``CACHES['default']['LOCATION']`` with a password in it);
- ``IDENTITY_HEADER`` (App Service's managed-identity secret) in ``request.META`` under ``runserver``,
  which copies the whole environment into every request;
- with ``DEBUG`` on, the locals of every frame, including appauth's own and those below it (msal, azure-core,
  requests) while a token or secret is being fetched.

This filter hides all of those, with ``DEBUG`` on or off. ``AppAuthDjangoConfig.ready()`` installs it when
``DEFAULT_EXCEPTION_REPORTER_FILTER`` is left at Django's default; a project with its own filter can
subclass this one (``appauth.W001`` warns otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import FrameType
from typing import Any

from django.http import HttpRequest  # type: ignore[import-untyped]
from django.views.debug import SafeExceptionReporterFilter  # type: ignore[import-untyped]

from . import secret_values

FILTER_PATH = "appauth_django.debug.AppAuthExceptionReporterFilter"
DJANGO_DEFAULT_FILTER = "django.views.debug.SafeExceptionReporterFilter"

# Django 5.2's pattern, plus names that hold credentials in Azure apps.
HIDDEN_SETTINGS = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CONNECTION_?STRING|IDENTITY_HEADER|CREDENTIAL|DSN",
    flags=re.IGNORECASE,
)
CORE_PACKAGE = "appauth_core"


class AppAuthExceptionReporterFilter(SafeExceptionReporterFilter):  # type: ignore[misc]
    hidden_settings = HIDDEN_SETTINGS

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Also called for each request.META entry and, recursively, for nested dicts and lists.
        if secret_values.is_secret(value):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: FrameType) -> Iterable[Any]:
        if _inside_appauth(tb_frame):
            # appauth's frames and everything they call (msal, azure-core, requests) may hold an AppKey,
            # a token or a secret value in a local: none of their locals are shown.
            return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
        # Django ignores @sensitive_variables while DEBUG is on; the page is still a page.
        variables = _always_active.get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute if secret_values.is_secret(value) else value) for name, value in variables
        ]


class _AlwaysActive(SafeExceptionReporterFilter):  # type: ignore[misc]
    """Django's frame cleansing as it is with DEBUG off (honours ``sensitive_variables``)."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


_always_active = _AlwaysActive()


def _inside_appauth(frame: FrameType | None) -> bool:
    """True if ``frame`` is appauth_core's, or was called (directly or not) from one of appauth_core's."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).split(".")[0] == CORE_PACKAGE:
            return True
        frame = frame.f_back
    return False
