"""The ``keyvault_secret("name")`` Jinja global.

Pages end up in browsers, caches and logs, so a template may render only the secrets listed in
``APPAUTH_TEMPLATE_SECRETS``. Any other name renders nothing in production (and logs the name, never a
value); in debug it raises, so the developer sees the mistake at once instead of an empty spot.
"""

from __future__ import annotations

import logging

from flask import current_app

from appauth_core.web import TemplateSecretNotAllowedError

from ._state import services_for

logger = logging.getLogger("appauth_flask")


def keyvault_secret(name: str) -> str:
    """The secret's value (autoescaped like any string) if ``name`` is allowed for templates."""
    try:
        return services_for(current_app).template_secret(name)
    except TemplateSecretNotAllowedError:
        if current_app.debug:
            raise
        logger.warning("keyvault_secret(%r) rendered nothing: the name is not in APPAUTH_TEMPLATE_SECRETS", name)
        return ""
