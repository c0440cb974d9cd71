"""``{% load appauth %}{% keyvault_secret "public-banner" %}`` (or ``... as banner``).

Pages end up in browsers, proxies, caches and logs, so a template may render only the secrets named in
``APPAUTH['TEMPLATE_SECRETS']`` (empty by default). Any other name raises in DEBUG, so the developer sees
the mistake at once, and renders nothing in production (the name is logged, never a value): the value is
not even fetched.
"""

from __future__ import annotations

import logging

from django import template  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]

from appauth_core.web import template_secret_or_blank

from .._sensitive import hide_locals
from ..conf import get_services

register = template.Library()
logger = logging.getLogger("appauth_django")


@hide_locals
def keyvault_secret(name: str) -> str:
    """The secret's value, autoescaped like any other string, if ``name`` is allowed for templates."""
    return template_secret_or_blank(
        get_services(), name, debug=settings.DEBUG, logger=logger, shown_as=f"{{% keyvault_secret {name!r} %}}"
    )


register.simple_tag(keyvault_secret)
