"""Issue 15, item 8: ``request.appauth`` for type checkers. It is ``Any`` to mypy (Django adds it at run
time), so ``get_appauth(request)`` and django-stubs' pattern, an ``HttpRequest`` subclass declaring it
(``AppAuthRequest``), give it its type: a typo such as ``.secrt(...)`` fails ``mypy --strict``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from appauth_core import RequestAppAuth
from appauth_django import AppAuthRequest, get_appauth
from appauth_django.middleware import AppAuthMiddleware
from tests.typing_support import mypy_strict

VIEWS = """\
from __future__ import annotations

from django.http import HttpRequest, JsonResponse  # type: ignore[import-untyped]

from appauth_django import AppAuthRequest, get_appauth


def reports(request: HttpRequest) -> JsonResponse:
    key: str = get_appauth(request).secret("reporting-api-key")
    flag: str | None = get_appauth(request).secret("new-feature-flag", default=None)
    return JsonResponse({"key": key, "flag": flag})


def typed(request: AppAuthRequest) -> str:
    return request.appauth.secret("reporting-api-key")
"""


def test_the_accessors_pass_mypy_strict(tmp_path):
    result = mypy_strict(VIEWS, tmp_path, "views")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_typo_through_the_accessors_fails_mypy_strict(tmp_path):
    typos = VIEWS.replace('get_appauth(request).secret("reporting', 'get_appauth(request).secrt("reporting')
    typos = typos.replace('request.appauth.secret("reporting', 'request.appauth.secrt("reporting')
    result = mypy_strict(typos, tmp_path, "views")
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    lines = typos.splitlines()
    flagged = {int(line.split(":")[1]) for line in errors if '"RequestAppAuth" has no attribute "secrt"' in line}
    assert flagged == {number for number, text in enumerate(lines, 1) if ".secrt(" in text}


def test_get_appauth_is_request_appauth(appauth_settings):
    seen = {}

    def view(request):
        seen["same"] = get_appauth(request) is request.appauth
        seen["type"] = get_appauth(request).__class__
        return HttpResponse("ok")

    AppAuthMiddleware(view)(RequestFactory().get("/"))
    assert seen == {"same": True, "type": RequestAppAuth}


def test_app_auth_request_is_the_documented_http_request_subclass():
    assert issubclass(AppAuthRequest, HttpRequest)
    assert AppAuthRequest.__annotations__["appauth"] in (RequestAppAuth, "RequestAppAuth")


def test_exported_names():
    import appauth_django

    assert appauth_django.__all__ == ["AppAuthRequest", "RequestAppAuth", "get_appauth"]
