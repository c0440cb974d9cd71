"""Issue 15, item 4: the set-up mistakes that used to pass every check and fail at the first request (or with
``AttributeError: 'WSGIRequest' object has no attribute 'appauth'``) are system-check warnings, and
``request.appauth`` says exactly what to add."""

from __future__ import annotations

import sys

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.http import HttpResponse
from django.template import engines
from django.test import RequestFactory

from appauth_core import AppAuthError, AppAuthNotInitialisedError
from appauth_django.middleware import AppAuthMiddleware

MIDDLEWARE = "appauth_django.middleware.AppAuthMiddleware"


class MyMiddleware(AppAuthMiddleware):
    """A project's own subclass: it sets request.appauth too."""


def messages(code: str) -> list[tuple[str, str | None]]:
    return [(m.msg, m.hint) for m in run_checks(tags=["appauth"]) if m.id == code]


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("APP_AUTH", "APPAUTH"),
        ("APPAUTH_SETTINGS", "APPAUTH"),
        ("APPAUTH_KEY_VAULT_URL", "APPAUTH['KEY_VAULT_URL']"),  # Flask's spelling, in a Django project
        ("APP_AUTH_CONNECTION_STRING", "APPAUTH['CONNECTION_STRING']"),
    ],
)
def test_a_near_miss_setting_name_is_a_warning(settings, name, meant):
    setattr(settings, name, {"KEY_VAULT_URL": "https://myvault.vault.azure.net/"})
    found = messages("appauth.W004")
    assert len(found) == 1
    assert found[0][0].startswith(f"The setting {name} is not read by appauth: did you mean {meant}?")


def test_a_lower_case_appauth_is_a_warning(monkeypatch):
    # Django ignores lower-case names in settings.py: they never reach django.conf.settings.
    module = sys.modules[django_settings.SETTINGS_MODULE]
    monkeypatch.setattr(module, "appauth", {"KEY_VAULT_URL": "https://myvault.vault.azure.net/"}, raising=False)
    found = messages("appauth.W004")
    assert len(found) == 1 and "The setting appauth is not read by appauth: did you mean APPAUTH?" in found[0][0]
    assert "Django reads upper-case settings only" in (found[0][1] or "")


def test_the_right_name_and_unrelated_names_are_quiet(settings):
    settings.APPAUTH = {"KEY_VAULT_URL": "https://myvault.vault.azure.net/"}
    settings.APP_NAME = "reports"
    settings.AUTH_USER_MODEL = "auth.User"
    assert messages("appauth.W004") == []


def test_installed_without_the_middleware_warns_with_the_line_to_add(settings):
    settings.MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    found = messages("appauth.W005")
    assert len(found) == 1
    assert "request.appauth" in found[0][0]
    assert f'MIDDLEWARE += ["{MIDDLEWARE}"]' in (found[0][1] or "")


def test_a_subclass_of_the_middleware_counts(settings):
    settings.MIDDLEWARE = [f"{__name__}.MyMiddleware"]
    assert messages("appauth.W005") == []


def test_request_appauth_without_the_middleware_says_what_to_add(appauth_settings):
    appauth_settings.MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    request = RequestFactory().get("/")
    with pytest.raises(AppAuthNotInitialisedError) as caught:
        request.appauth.secret("db-password")
    assert f'MIDDLEWARE += ["{MIDDLEWARE}"]' in str(caught.value)
    assert isinstance(caught.value, AppAuthError) and isinstance(caught.value, AttributeError)
    assert not hasattr(request, "appauth")  # probing code keeps working
    assert getattr(request, "appauth", None) is None
    # A template that uses it says the same (Django's engine re-raises what a class attribute raises).
    with pytest.raises(AppAuthNotInitialisedError, match="MIDDLEWARE"):
        engines["django"].from_string("{{ request.appauth.principal }}").render({"request": request})


def test_a_middleware_listed_before_appauth_middleware_is_told_to_move(appauth_settings):
    appauth_settings.MIDDLEWARE = [f"{__name__}.uses_appauth", MIDDLEWARE]
    seen: dict[str, str] = {}

    def view(request):
        return HttpResponse("ok")

    def uses_appauth(get_response):
        def middleware(request):
            try:
                request.appauth.principal  # noqa: B018
            except AppAuthNotInitialisedError as error:
                seen["error"] = str(error)
            return get_response(request)

        return middleware

    uses_appauth(AppAuthMiddleware(view))(RequestFactory().get("/"))
    assert "has not run for this request yet" in seen["error"]
    assert f"List '{MIDDLEWARE}' before the middleware that uses request.appauth" in seen["error"]


def test_with_the_middleware_request_appauth_is_set(appauth_settings):
    def view(request):
        return HttpResponse(request.appauth.__class__.__name__)

    assert AppAuthMiddleware(view)(RequestFactory().get("/")).content == b"RequestAppAuth"
