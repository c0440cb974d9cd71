"""Django integration for appauth: ``INSTALLED_APPS = [..., "appauth_django"]``.

- ``APPAUTH = {...}``: one settings dict, validated by system checks (``appauth.E001`` ...);
- ``@Microsoft.KeyVault(...)`` settings are resolved when the app loads (``appauth_django.resolution``);
  ``appauth_django.settings.keyvault_secret()`` reads a secret inside ``settings.py`` itself;
- ``appauth_django.middleware.AppAuthMiddleware`` sets ``request.appauth`` (tokens, secrets, principal);
  ``get_appauth(request)`` is the same object typed as ``RequestAppAuth`` (``AppAuthRequest``, for
  django-stubs users, is the ``HttpRequest`` subclass that declares it);
- ``{% load appauth %}{% keyvault_secret "name" %}`` for the secrets ``TEMPLATE_SECRETS`` allows;
- ``python manage.py appauth whoami | token | secret | check``;
- ``appauth_django.debug.AppAuthExceptionReporterFilter`` keeps secrets off error pages.

The framework-neutral work is ``appauth_core``'s; this package only reads Django's settings into it.
"""

from appauth_core import RequestAppAuth

from .request import AppAuthRequest, get_appauth

__all__ = ["AppAuthRequest", "RequestAppAuth", "get_appauth"]
