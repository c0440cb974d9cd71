"""Database backends that sign in with the app's Entra ID token instead of a password:
``ENGINE: "appauth_django.db.backends.postgresql"`` or ``"appauth_django.db.backends.mysql"``. A refused
sign-in is ``DjangoDatabaseSignInError`` (``appauth_django.db.errors``)."""

from .errors import DjangoDatabaseSignInError

__all__ = ["DjangoDatabaseSignInError"]
