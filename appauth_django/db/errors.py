"""A refused sign-in as Django code expects a database failure to look: the backends raise
``DjangoDatabaseSignInError``, which is appauth's ``DatabaseSignInError`` (``except DatabaseSignInError``) and
Django's ``OperationalError`` (``except django.db.OperationalError`` / ``DatabaseError``, as health checks and
views that catch an unreachable database do). Django's error wrapper leaves it as it is: it converts only the
driver's own errors."""

from __future__ import annotations

from django.db import OperationalError  # type: ignore[import-untyped]

from appauth_core import DatabaseSignInError


class DjangoDatabaseSignInError(DatabaseSignInError, OperationalError):  # type: ignore[misc]
    """``DatabaseSignInError`` that is also ``django.db.OperationalError``; the same message and fields."""


def for_django(error: DatabaseSignInError) -> DjangoDatabaseSignInError:
    return DjangoDatabaseSignInError(
        str(error), server=error.server, user=error.user, principal=error.principal, reason=error.reason
    )
