"""System checks for the ``DATABASES`` entries that use an appauth backend (no I/O):

- ``appauth.E030`` ``PASSWORD`` (or ``OPTIONS["password"]`` / ``["passwd"]``) is set: the backend signs in
  with a token and would never use it, so it is an error rather than silently ignored
- ``appauth.E031`` the entry's ``"APPAUTH"`` dict is wrong (not a dict, an unknown key, a bad
  ``CONNECTION_STRING`` or ``RESOURCE``)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.checks import CheckMessage, Error, Tags, register  # type: ignore[import-untyped]

from .db._token_settings import entry_problems, setting

BACKENDS = ("appauth_django.db.backends.postgresql", "appauth_django.db.backends.mysql")


@register(Tags.database, "appauth")  # type: ignore[untyped-decorator]
def check_database_entries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    for alias, entry in getattr(settings, "DATABASES", {}).items():
        if entry.get("ENGINE") not in BACKENDS:
            continue
        for check_id, message, hint in entry_problems(alias, entry):
            found.append(Error(message, hint=hint, obj=setting(alias), id=check_id))
    return found
