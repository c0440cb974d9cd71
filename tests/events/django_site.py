"""The Django project the rotation-event tests serve under gunicorn: settings and URLs in one module
(``DJANGO_SETTINGS_MODULE=tests.events.django_site``, ``gunicorn "django.core.wsgi:get_wsgi_application()"``),
configured from ``EVENTS_TEST_*`` environment variables. The webhook is the documented include;
``/secret/<name>`` answers the worker's pid and a SHA-256 of the secret, never the secret."""

from __future__ import annotations

import hashlib
import os

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from appauth_core import RedisSecretCache

SECRET_KEY = "rotation-events-test-site"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
INSTALLED_APPS = ["appauth_django"]
MIDDLEWARE = ["appauth_django.middleware.AppAuthMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

APPAUTH = {
    "KEY_VAULT_URL": os.environ["EVENTS_TEST_VAULT_URL"],
    "SECRET_CACHE_SECONDS": 3600,
    "CACHE": RedisSecretCache(os.environ["EVENTS_TEST_REDIS_URL"], prefix=os.environ["EVENTS_TEST_PREFIX"]),
    "CACHE_ENCRYPTION_KEY": os.environ["EVENTS_TEST_ENCRYPTION_KEY"],
    "EVENTS": {
        "AUDIENCE": os.environ["EVENTS_TEST_AUDIENCE"],
        "TENANT_ID": os.environ["EVENTS_TEST_TENANT_ID"],
        "AUTHORITY": os.environ["EVENTS_TEST_AUTHORITY"],
    },
}


def secret(request: HttpRequest, name: str) -> JsonResponse:
    value = request.appauth.secret(name)  # type: ignore[attr-defined]
    return JsonResponse({"pid": os.getpid(), "sha256": hashlib.sha256(value.encode()).hexdigest()})


def ready(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("", ready),
    path("secret/<str:name>", secret),
    path("appauth/events/", include("appauth_django.events")),
]
