"""A small Django site as a user would deploy it (the demo site's middleware), with or without appauth."""

from pathlib import Path

from bench_env import SECRET_NAME, VAULT_URL, WITH_APPAUTH

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "bench-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["appauth_django"] if WITH_APPAUTH else []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    *(["appauth_django.middleware.AppAuthMiddleware"] if WITH_APPAUTH else []),
]
ROOT_URLCONF = "django_app.urls"
WSGI_APPLICATION = "django_app.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE_DIR / "templates"]}]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

if WITH_APPAUTH:
    APPAUTH = {"KEY_VAULT_URL": VAULT_URL, "TEMPLATE_SECRETS": [SECRET_NAME]}
