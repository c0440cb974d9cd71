"""Settings for the real gunicorn / uvicorn processes serving the protected views (``api_views.py``): the
test settings plus ``APPAUTH['API']`` and ``APPAUTH['DOWNSTREAM_APIS']`` from the environment the fixture
gives the process (as App Service app settings would)."""

from __future__ import annotations

import json
import os

from tests.django.settings import *  # noqa: F403

APPAUTH = {
    "API": json.loads(os.environ["APPAUTH_TEST_API"]),
    "DOWNSTREAM_APIS": json.loads(os.environ.get("APPAUTH_TEST_DOWNSTREAM_APIS", "{}")),
}
