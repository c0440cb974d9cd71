"""Which values in the settings came from Key Vault, so the exception reporter filter can hide them.

Django's filter hides a setting by its *name* (``API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE``); a secret read
into ``SENTRY_DSN`` or ``DATABASES['default']['HOST']`` would be shown on the debug page and in error
e-mails. Settings-time resolution and ``keyvault_secret()`` register each value here (as a SHA-256 digest,
so this module holds no second copy of a secret), and ``AppAuthExceptionReporterFilter`` hides any
setting, at any depth, whose value matches, wherever the value was copied to.

No Django import: ``appauth_django.settings`` uses this while ``settings.py`` itself is being imported.
"""

from __future__ import annotations

import hashlib
import sys
import threading

from appauth_core import fork_safety

_lock = threading.Lock()
_digests: set[bytes] = set()
fork_safety.new_lock_in_child(sys.modules[__name__])


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def remember(value: str) -> None:
    """Mark ``value`` as a secret from now on (empty strings are not: they would hide every empty setting)."""
    if value:
        with _lock:
            _digests.add(_digest(value))


def is_secret(value: object) -> bool:
    """True if ``value`` is a string appauth read from Key Vault for the settings."""
    return isinstance(value, str) and bool(_digests) and _digest(value) in _digests


def forget_all() -> None:
    """For tests."""
    with _lock:
        _digests.clear()
