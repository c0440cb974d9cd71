"""Settings for the real gunicorn / uvicorn processes: the test settings plus what a deployed app has,
from the environment the fixture gives the process (the emulator's App Service managed identity, its CA,
and the vault's URL). ``SECRET_KEY`` and a nested database password are Key Vault references, resolved
when the app loads."""

from __future__ import annotations

import os

from tests.django.settings import *  # noqa: F403

VAULT_URL = os.environ["APPAUTH_TEST_VAULT_URL"]

SECRET_KEY = f"@Microsoft.KeyVault(SecretUri={VAULT_URL}secrets/django-secret-key/)"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "PASSWORD": f"@Microsoft.KeyVault(SecretUri={VAULT_URL}secrets/db-password/)",
    }
}
APPAUTH = {"KEY_VAULT_URL": VAULT_URL, "TEMPLATE_SECRETS": ["public-banner"]}
