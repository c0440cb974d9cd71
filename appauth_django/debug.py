"""``AppAuthExceptionReporterFilter``: Django's debug page and error e-mails without appauth's secrets.

Django's ``SafeExceptionReporterFilter`` hides settings and ``request.META`` entries by *name*, and hides
``sensitive_variables`` frames only when ``DEBUG`` is off. That leaves, for an app using appauth:

- ``APPAUTH['CONNECTION_STRING']`` (it may hold an ``AppKey``) on Django < 5.0, whose pattern lacks AUTH;
- secrets resolved from Key Vault into settings whose names do not look secret (``SENTRY_DSN``), or built
  into one (a ``DATABASE_URL``, ``CACHES['default']['LOCATION']`` with a password in it, a webhook URL in a
  list or a set): a setting, at any depth, that contains a remembered secret (``secret_values``) is hidden;
- ``IDENTITY_HEADER`` (App Service's managed-identity secret) in ``request.META`` under ``runserver``,
  which copies the whole environment into every request;
- with ``DEBUG`` on, the locals of every frame, including appauth's own and those below it (msal, azure-core,
  requests) while a token or secret is being fetched, and any local that contains a remembered secret.

This filter hides all of those, with ``DEBUG`` on or off. ``AppAuthDjangoConfig.ready()`` installs it when
``DEFAULT_EXCEPTION_REPORTER_FILTER`` is left at Django's default; a project with its own filter can
subclass this one (``appauth.W001`` warns otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import islice
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
MAX_DEPTH = 8  # levels of nested containers a frame local is looked into (the canary scan's depth)
MAX_ITEMS = 10_000  # items of one container looked at


class AppAuthExceptionReporterFilter(SafeExceptionReporterFilter):  # type: ignore[misc]
    hidden_settings = HIDDEN_SETTINGS

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Also called for each request.META entry and, by Django, for each item of a dict, list or tuple.
        if _setting_holds_secret(value):
            return self.cleansed_substitute
        if isinstance(value, (set, frozenset)):  # Django's filter does not look inside sets
            return type(value)(self.cleanse_setting("", item) for item in value)
        return super().cleanse_setting(key, value)

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: FrameType) -> Iterable[Any]:
        if _inside_appauth(tb_frame):
            # appauth's frames and everything they call (msal, azure-core, requests) may hold an AppKey,
            # a token or a secret value in a local: none of their locals are shown.
            return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
        # Django ignores @sensitive_variables while DEBUG is on; the page is still a page.
        variables = _always_active.get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleansed_substitute if holds_secret(value) else value) for name, value in variables]


def holds_secret(value: object, depth: int = 0) -> bool:
    """True if ``value`` is or contains a remembered secret: a string or bytes containing one, or a dict, list,
    tuple or set with such an item (keys too), down to ``MAX_DEPTH`` levels and ``MAX_ITEMS`` items each
    (the report cuts a local's text at 4,096 characters: an item further on is not shown)."""
    if isinstance(value, str):
        return secret_values.contains_secret(value)
    if isinstance(value, (bytes, bytearray)):
        return secret_values.contains_secret(bytes(value).decode("utf-8", "replace"))
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, Mapping):
        items: Iterable[object] = (item for pair in islice(value.items(), MAX_ITEMS) for item in pair)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = islice(value, MAX_ITEMS)
    else:
        return False
    return any(holds_secret(item, depth + 1) for item in items)


def _setting_holds_secret(value: object) -> bool:
    """For one setting as ``cleanse_setting`` sees it: Django walks the values of dicts, lists and tuples
    itself, so only what it shows whole is looked into here (strings, dict keys, other objects by the text
    the report prints for them)."""
    if isinstance(value, (str, bytes, bytearray)):
        return holds_secret(value)
    if isinstance(value, dict):
        return any(holds_secret(name) for name in value)
    if isinstance(value, (list, tuple, set, frozenset, int, float, type(None))):
        return False
    try:
        return secret_values.contains_secret(repr(value))
    except Exception:  # a setting whose repr fails is shown by Django as an error, not as text
        return False


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
