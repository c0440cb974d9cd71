"""Settings for the in-process Django tests (pytest-django). Nothing here talks to Azure: tests point
``APPAUTH`` at the emulator with the ``settings`` fixture, which is also how ``setting_changed`` is tested."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = "appauth-test-suite-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["appauth_django"]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "appauth_django.middleware.AppAuthMiddleware",
]
ROOT_URLCONF = "tests.django.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
    }
]
DATABASES: dict[str, dict[str, str]] = {}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
APPAUTH: dict[str, object] = {}
# The DRF views of api_views.py: no django.contrib.auth here, so no AnonymousUser for unauthenticated requests.
REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}
