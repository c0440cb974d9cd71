"""Setting names that look like appauth's but are not read: ``APP_AUTH``, ``APPAUTH_SETTINGS`` or a
lower-case ``appauth`` in Django (which reads ``APPAUTH``), ``APP_AUTH_KEY_VAULT_URL`` or
``appauth_key_vault_url`` in Flask (which reads ``APPAUTH_*``). Nothing else would say a word about them: the
app starts with no configuration and fails at the first request that needs it. Django warns through a
system check, Flask from ``init_app``; the likeness is decided here, once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ._config import KEYS


class SettingNameWarning(UserWarning):
    """A setting is named almost as appauth's (Flask's ``init_app`` warns with it; Django's system checks say
    it as ``appauth.W004``)."""


WHOLE = frozenset({"", "SETTINGS", "CONFIG", "CONF", "CONFIGURATION", "OPTIONS"})
"""What may follow the prefix in a name meant as the whole configuration (``APPAUTH_SETTINGS``)."""


@dataclass(frozen=True)
class LookAlike:
    """A name that looks like an appauth setting: its first word is ``APPAUTH`` or ``APP_AUTH``, in any case.
    ``whole``: it seems meant as the whole configuration (``APP_AUTH``, ``APPAUTH_SETTINGS``); else ``key`` is
    the key of ``config.KEYS`` it seems to mean (``KEY_VAULT_URL`` for ``APP_AUTH_KEY_VAULT_URL``), None
    when none is close. ``prefixed``: written exactly as ``APPAUTH_<something>``, Flask's own spelling."""

    name: str
    whole: bool
    key: str | None
    prefixed: bool


def look_alike(name: object) -> LookAlike | None:
    """What ``name`` seems meant as, or None when it does not look like an appauth setting (``APPAUTHORS``,
    ``APP_NAME``)."""
    if not isinstance(name, str):
        return None
    words = [word for word in name.replace("-", "_").split("_") if word]
    upper = [word.upper() for word in words]
    if upper[:1] == ["APPAUTH"]:
        rest = upper[1:]
    elif upper[:2] == ["APP", "AUTH"]:
        rest = upper[2:]
    else:
        return None
    suffix = "_".join(rest)
    prefixed = name.startswith("APPAUTH_") and bool(rest)
    if suffix in WHOLE:
        return LookAlike(name, whole=True, key=None, prefixed=prefixed)
    close = difflib.get_close_matches(suffix, KEYS, n=1)
    return LookAlike(name, whole=False, key=close[0] if close else None, prefixed=prefixed)
