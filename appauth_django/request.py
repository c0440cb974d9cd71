"""``request.appauth`` for type checkers and for the request that has none.

- ``get_appauth(request)``: ``request.appauth``, typed as ``RequestAppAuth``, so a typo such as
  ``get_appauth(request).secrt(...)`` fails ``mypy --strict`` (``request.appauth`` itself is ``Any``).
- ``AppAuthRequest``: django-stubs' documented pattern for attributes a middleware adds (an ``HttpRequest``
  subclass that declares them), for views annotated ``def view(request: AppAuthRequest)``. A type only:
  Django still hands views its own request classes.
- Without ``AppAuthMiddleware`` (or before it ran), ``request.appauth`` raises
  ``AppAuthNotInitialisedError`` naming what to add to ``MIDDLEWARE``, instead of
  ``AttributeError: 'WSGIRequest' object has no attribute 'appauth'``. ``AppConfig.ready()`` puts a
  descriptor on ``HttpRequest`` for that; the middleware's own attribute, set on each request, hides it.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings  # type: ignore[import-untyped]
from django.http import HttpRequest  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from appauth_core import RequestAppAuth
from appauth_core.errors import AppAuthNotInitialisedError

MIDDLEWARE_PATH = "appauth_django.middleware.AppAuthMiddleware"
MIDDLEWARE_LINE = f'MIDDLEWARE += ["{MIDDLEWARE_PATH}"]'


class AppAuthRequest(HttpRequest):  # type: ignore[misc]
    """An ``HttpRequest`` with ``appauth`` (django-stubs' pattern for what middleware adds)::

    from appauth_django import AppAuthRequest

    def reports(request: AppAuthRequest) -> JsonResponse:
        api_key = request.appauth.secret("reporting-api-key")
    """

    appauth: RequestAppAuth


def get_appauth(request: HttpRequest) -> RequestAppAuth:
    """``request.appauth`` (set by ``AppAuthMiddleware``), typed. ``AppAuthNotInitialisedError`` when the
    middleware did not run for ``request``, saying what to add."""
    return cast(RequestAppAuth, request.appauth)


def has_middleware() -> bool:
    """True when ``MIDDLEWARE`` holds ``AppAuthMiddleware`` or a subclass of it (Django admin's test for its
    own middleware: each entry that is not ours by name is imported)."""
    from .middleware import AppAuthMiddleware

    for path in getattr(settings, "MIDDLEWARE", None) or ():
        if path == MIDDLEWARE_PATH:
            return True
        try:
            middleware = import_string(path)
        except ImportError:  # Django reports a middleware it cannot import when it loads them
            continue
        if isinstance(middleware, type) and issubclass(middleware, AppAuthMiddleware):
            return True
    return False


class _NotSetByTheMiddleware:
    """``HttpRequest.appauth``, seen only where ``AppAuthMiddleware`` did not set the request's own."""

    def __get__(self, request: Any, owner: type | None = None) -> Any:
        if request is None:
            return self
        if has_middleware():
            raise AppAuthNotInitialisedError(
                "request.appauth is not set: AppAuthMiddleware is in MIDDLEWARE but has not run for this request "
                "yet (a middleware listed before it, or a request that did not go through the middleware, such "
                f"as one made with RequestFactory, asked for it). List '{MIDDLEWARE_PATH}' before the middleware "
                "that uses request.appauth."
            )
        raise AppAuthNotInitialisedError(
            f"request.appauth is set by appauth's middleware, which is not in MIDDLEWARE: add it in settings.py, "
            f"{MIDDLEWARE_LINE}"
        )


def explain_missing_attribute() -> None:
    """Make ``request.appauth`` without the middleware raise ``AppAuthNotInitialisedError`` (``ready()``)."""
    if not isinstance(HttpRequest.__dict__.get("appauth"), _NotSetByTheMiddleware):
        HttpRequest.appauth = _NotSetByTheMiddleware()
