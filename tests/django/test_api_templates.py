"""Templates and the service-to-service surface (issue 17): ``request.appauth.caller`` may be shown (it holds
no token), ``request.appauth.api`` returns a session that sends the app's tokens, so no template engine may
call it: rendered in a protected view after a downstream API was configured, nothing reaches that API and no
token appears (Django's template language and Django's Jinja2 backend; Jinja's sandbox is in the Flask
tests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.template import engines
from django.test import Client
from django.urls import path

from appauth_core import AzureServiceTokenProvider
from appauth_django.decorators import require_token
from tests.api_support import register_orders_api
from tests.core.outbound_support import ApiServer

EXPRESSIONS = [
    "{{ request.appauth.caller.client_id }}",
    "{{ request.appauth.caller }}",
    "{{ request.appauth.api }}",
    "{{ request.appauth.api.orders }}",
    "{{ request.appauth.api.get }}",
    "{% with s=request.appauth.api %}{{ s.get }}{{ s.headers }}{% endwith %}",
    "{{ request.appauth.caller.roles }}",
]


@require_token
def rendered(request: HttpRequest) -> JsonResponse:
    outcomes = {}
    for expression in EXPRESSIONS:
        try:
            outcomes[expression] = engines[request.GET["engine"]].from_string(expression).render({}, request)
        except Exception as error:  # the engine refused: its message is what a page shows
            outcomes[expression] = f"{type(error).__name__}: {error}"
    return JsonResponse(outcomes)


urlpatterns = [path("rendered", rendered)]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "NAME": "django",
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
    {"BACKEND": "django.template.backends.jinja2.Jinja2", "NAME": "django-jinja2", "APP_DIRS": False},
]


@pytest.mark.parametrize("engine", ["django", "django-jinja2"])
def test_templates_show_the_caller_and_never_call_a_downstream_api(
    engine: str, settings: Any, azure_emulator, azure_emulator_env
) -> None:
    settings.ROOT_URLCONF = __name__
    settings.TEMPLATES = TEMPLATES
    audience = register_orders_api(azure_emulator, "django-templates").app_id_uri
    with ApiServer() as downstream:
        settings.APPAUTH = {
            "API": {"AUDIENCE": audience, "TENANT_ID": azure_emulator.tenant_id, "AUTHORITY": azure_emulator.authority},
            "DOWNSTREAM_APIS": {"orders": {"BASE_URL": downstream.url, "RESOURCE": audience}},
        }
        token = AzureServiceTokenProvider().get_access_token(audience)
        response = Client().get("/rendered", {"engine": engine}, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        outcomes = response.json()
        assert downstream.seen == []  # no expression made a request to the downstream API
    for expression, text in outcomes.items():
        assert token not in text, expression
        assert "Bearer" not in text, expression
    client_id = azure_emulator.directory.system_identity.client_id
    assert outcomes["{{ request.appauth.caller.client_id }}"] == client_id  # not vacuous: the caller is there
    assert client_id in outcomes["{{ request.appauth.caller }}"]
