"""Which values in the settings came from Key Vault, so the exception reporter filter can hide them.

Django's filter hides a setting by its *name* (``API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE``); a secret read
into ``SENTRY_DSN`` or ``DATABASES['default']['HOST']``, or built into a ``DATABASE_URL`` or a cache
``LOCATION``, would be shown on the debug page and in error e-mails. Settings-time resolution and
``keyvault_secret()`` register each value here, and ``AppAuthExceptionReporterFilter`` hides any setting, at
any depth, that is such a value or contains one of ``MIN_CONTAINED`` characters or more, wherever the value
was copied to.

Finding a secret *inside* a setting needs the value itself (a digest can only say "equal"), so the values are
kept: the settings' own string objects (a reference, not a copy), in module globals, which no repr and no
local of the checks' frames shows.

No Django import: ``appauth_django.settings`` uses this while ``settings.py`` itself is being imported.
"""

from __future__ import annotations

import sys
import threading

from appauth_core._internal import fork_safety

MIN_CONTAINED = 8
"""A remembered value shorter than this hides only a setting equal to it: contained, it would hide every
setting that happens to share a few characters with it."""

_lock = threading.Lock()
_values: set[str] = set()
_contained: tuple[str, ...] = ()  # the values of MIN_CONTAINED characters or more
fork_safety.new_lock_in_child(sys.modules[__name__])


def remember(value: str) -> None:
    """Mark ``value`` as a secret from now on (empty strings are not: they would hide every empty setting)."""
    global _contained
    if value:
        with _lock:
            if len(value) >= MIN_CONTAINED and value not in _values:
                _contained = (*_contained, value)
            _values.add(value)


def is_secret(value: object) -> bool:
    """True if ``value`` is a string appauth read from Key Vault for the settings."""
    return isinstance(value, str) and value in _values


def contains_secret(text: str) -> bool:
    """True if ``text`` is a remembered value or contains one of ``MIN_CONTAINED`` characters or more."""
    # map() with a bound method: no Python frame holds a remembered value in a local while this runs.
    return text in _values or any(map(text.__contains__, _contained))


def forget_all() -> None:
    """For tests."""
    global _contained
    with _lock:
        _values.clear()
        _contained = ()
