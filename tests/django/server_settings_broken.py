"""The server settings with a database password reference to a secret that does not exist."""

from __future__ import annotations

from tests.django.server_settings import *  # noqa: F403
from tests.django.server_settings import VAULT_URL

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "PASSWORD": f"@Microsoft.KeyVault(SecretUri={VAULT_URL}secrets/no-such-secret/)",
    }
}
