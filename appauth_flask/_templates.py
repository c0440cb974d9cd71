"""The ``keyvault_secret("name")`` Jinja global.

Pages end up in browsers, caches and logs, so a template may render only the secrets listed in
``APPAUTH_TEMPLATE_SECRETS``. Any other name renders nothing in production (and logs the name, never a
value); in debug it raises, so the developer sees the mistake at once instead of an empty spot.
"""

from __future__ import annotations

import logging

from flask import current_app

from appauth_core.web import template_secret_or_blank

from ._state import services_for

logger = logging.getLogger("appauth_flask")


def keyvault_secret(name: str) -> str:
    """The secret's value (autoescaped like any string) if ``name`` is allowed for templates."""
    return template_secret_or_blank(
        services_for(current_app), name, debug=current_app.debug, logger=logger, shown_as=f"keyvault_secret({name!r})"
    )
