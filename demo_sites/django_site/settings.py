"""Settings as a user would write them for App Service: no credentials anywhere. The vault URL comes from
an app setting; SECRET_KEY is a Key Vault reference that appauth resolves when the app loads. The API this
site serves (``APPAUTH["API"]``) and the one it calls (``APPAUTH["DOWNSTREAM_APIS"]``) come from app settings
too, which ``make demo`` sets (demo_sites/run.py registers both APIs in the emulated Entra ID)."""

import os
from pathlib import Path

from appauth_core import RedisSecretCache

BASE_DIR = Path(__file__).resolve().parent
VAULT_URL = os.environ["DEMO_VAULT_URL"]  # e.g. https://myvault.vault.azure.net/ (the emulator's, in the demo)

SECRET_KEY = f"@Microsoft.KeyVault(SecretUri={VAULT_URL}secrets/django-secret-key)"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["appauth_django", "demo_sites.django_site.visits"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "appauth_django.middleware.AppAuthMiddleware",
]
ROOT_URLCONF = "demo_sites.django_site.urls"
WSGI_APPLICATION = "demo_sites.django_site.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.csrf",
                "django.template.context_processors.request",
            ]
        },
    }
]
DATABASES: dict[str, dict[str, object]] = {}
if "DEMO_POSTGRES_PORT" in os.environ:  # make demo's PostgreSQL, standing in for Azure Database for PostgreSQL
    DATABASES["default"] = {
        # Django's own PostgreSQL backend, signing in with the managed identity's Entra ID token: no PASSWORD.
        "ENGINE": "appauth_django.db.backends.postgresql",
        "HOST": "127.0.0.1",  # in Azure: myserver.postgres.database.azure.com
        "PORT": os.environ["DEMO_POSTGRES_PORT"],
        "NAME": os.environ["DEMO_DATABASE_NAME"],
        "USER": os.environ["DEMO_DATABASE_USER"],  # the managed identity's name, as the server knows it
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # TLS is required either way; the demo's server has a certificate from the emulator's own CA.
        "OPTIONS": {"sslmode": "verify-full", "sslrootcert": os.environ["DEMO_POSTGRES_CA"]},
    }
USE_TZ = True
TIME_ZONE = "UTC"

APPAUTH = {
    "KEY_VAULT_URL": VAULT_URL,
    "TEMPLATE_SECRETS": ["public-banner"],  # the only secret templates may show
    "SECRET_CACHE_SECONDS": int(os.environ.get("DEMO_SECRET_CACHE_SECONDS", "300")),
}

if "DEMO_AUTHORITY" in os.environ:  # set by make demo; the load tests serve /api/status without them
    APPAUTH["API"] = {  # the tokens /api/caller accepts: for this API (App ID URI or client id), from this tenant
        "AUDIENCE": [os.environ["DEMO_DJANGO_API_URI"], os.environ["DEMO_DJANGO_API_CLIENT_ID"]],
        "TENANT_ID": os.environ["DEMO_TENANT_ID"],
        "ALLOWED_CLIENT_IDS": os.environ["DEMO_API_CALLERS"].split(","),  # only the Flask site's identity
        "AUTHORITY": os.environ["DEMO_AUTHORITY"],  # the emulated Entra ID; in Azure, leave it out
    }
    APPAUTH["DOWNSTREAM_APIS"] = {  # request.appauth.api("flask-api"): the Flask site's API, with our identity
        "flask-api": {
            "BASE_URL": os.environ["DEMO_FLASK_URL"],
            "RESOURCE": os.environ["DEMO_FLASK_API_URI"],
            "TIMEOUT": 5,
        },
    }

if "DEMO_EVENTS_AUDIENCE" in os.environ:  # make demo: Key Vault's rotation events, through Event Grid
    APPAUTH["EVENTS"] = {  # the webhook at /appauth/events/ (urls.py); only Event Grid's token is accepted
        "AUDIENCE": os.environ["DEMO_EVENTS_AUDIENCE"],
        "TENANT_ID": os.environ["DEMO_TENANT_ID"],
        "AUTHORITY": os.environ["DEMO_AUTHORITY"],
    }
if "DEMO_REDIS_URL" in os.environ:  # the shared cache whose pub/sub channel tells every gunicorn worker
    APPAUTH["CACHE"] = RedisSecretCache(os.environ["DEMO_REDIS_URL"], prefix="appauth-demo-django:")
    APPAUTH["CACHE_ENCRYPTION_KEY"] = os.environ["DEMO_CACHE_KEY"]
