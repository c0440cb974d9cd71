"""Views that read a secret and then fail, the way real views do, for the Django error-page canary tests
(``ROOT_URLCONF`` is pointed here by the tests that use them)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.urls import path
from django.views.decorators.debug import sensitive_variables


class DatabaseRefused(Exception):
    pass


@sensitive_variables()
def read_then_fail(request: HttpRequest) -> HttpResponse:
    """Reads a secret at request time (marked, as the README asks), then the database refuses it."""
    password = request.appauth.secret(request.GET["name"])
    raise DatabaseRefused(f"the database refused the password ({len(password)} characters)")


def fail_inside_appauth(request: HttpRequest) -> HttpResponse:
    """The read itself fails (Key Vault or the token endpoint refuses): appauth's frames are on the page."""
    request.appauth.secret(request.GET["name"])
    return HttpResponse("unreachable")


def settings_value_in_a_local(request: HttpRequest) -> HttpResponse:
    """An unmarked view holding a setting that came from Key Vault: hidden wherever it was copied to."""
    dsn = settings.SENTRY_DSN
    raise RuntimeError(f"could not reach the error tracker ({len(dsn)} characters)")


def disallowed_template_secret(request: HttpRequest) -> HttpResponse:
    """A template asking for a secret that is not in TEMPLATE_SECRETS (an error page with DEBUG on)."""
    page = Template('{% load appauth %}<p>{% keyvault_secret "' + request.GET["name"] + '" %}</p>')
    return HttpResponse(page.render(RequestContext(request)))


urlpatterns = [
    path("read-then-fail", read_then_fail),
    path("fail-inside-appauth", fail_inside_appauth),
    path("settings-value-in-a-local", settings_value_in_a_local),
    path("disallowed-template-secret", disallowed_template_secret),
]
