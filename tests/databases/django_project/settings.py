"""The Django test project of the database tests, run in its own process (``drive.py``, ``manage.py``-style
commands): ``DB_BACKEND`` picks ``postgresql`` or ``mysql``; the other ``DB_*`` variables come from the
suite (``tests/databases/conftest.py``). The identity is the app's: ``APPAUTH`` (the default chain finds the
emulator's App Service managed identity)."""

from __future__ import annotations

import json
import os

SECRET_KEY = "appauth-database-tests-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["appauth_django", "tests.databases.django_project.notes"]
MIDDLEWARE = ["appauth_django.middleware.AppAuthMiddleware"]
ROOT_URLCONF = "tests.databases.django_project.urls"
APPAUTH: dict[str, object] = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

BACKEND = os.environ.get("DB_BACKEND", "postgresql")
USER = os.environ.get("DB_USER", "appauth-emulator-host")

if BACKEND == "postgresql":
    DATABASE: dict[str, object] = {
        "ENGINE": "appauth_django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": os.environ["DB_POSTGRESQL_PORT"],
        "NAME": "appauth",
        "USER": USER,
        "OPTIONS": {"sslmode": "verify-full", "sslrootcert": os.environ["DB_POSTGRESQL_CA"]},
    }
else:
    DATABASE = {
        "ENGINE": "appauth_django.db.backends.mysql",
        "HOST": "127.0.0.1",
        "PORT": os.environ["DB_MARIADB_PORT"],
        "NAME": "appauth",
        "USER": USER,
        "OPTIONS": {"ssl": {"ca": os.environ["DB_MARIADB_CA"]}},
    }
if os.environ.get("DB_OPTIONS"):  # in place of the TLS options above
    DATABASE["OPTIONS"] = json.loads(os.environ["DB_OPTIONS"])
DATABASE["CONN_MAX_AGE"] = json.loads(os.environ.get("DB_CONN_MAX_AGE", "0"))
DATABASE["CONN_HEALTH_CHECKS"] = os.environ.get("DB_HEALTH_CHECKS") == "1"
if os.environ.get("DB_POOL"):
    DATABASE["OPTIONS"]["pool"] = json.loads(os.environ["DB_POOL"])  # type: ignore[index]
if os.environ.get("DB_PASSWORD"):
    DATABASE["PASSWORD"] = os.environ["DB_PASSWORD"]
if os.environ.get("DB_APPAUTH"):
    DATABASE["APPAUTH"] = json.loads(os.environ["DB_APPAUTH"])
DATABASES = {"default": DATABASE}
