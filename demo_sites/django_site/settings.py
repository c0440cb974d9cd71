"""Settings as a user would write them for App Service: no credentials anywhere. The vault URL comes from
an app setting; SECRET_KEY is a Key Vault reference that appauth resolves when the app loads."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
VAULT_URL = os.environ["DEMO_VAULT_URL"]  # e.g. https://myvault.vault.azure.net/ (the emulator's, in the demo)

SECRET_KEY = f"@Microsoft.KeyVault(SecretUri={VAULT_URL}secrets/django-secret-key)"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["appauth_django"]
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
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

APPAUTH = {
    "KEY_VAULT_URL": VAULT_URL,
    "TEMPLATE_SECRETS": ["public-banner"],  # the only secret templates may show
    "SECRET_CACHE_SECONDS": int(os.environ.get("DEMO_SECRET_CACHE_SECONDS", "300")),
}
