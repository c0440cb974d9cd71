"""Django integration for appauth: ``INSTALLED_APPS = [..., "appauth_django"]``.

- ``APPAUTH = {...}``: one settings dict, validated by system checks (``appauth.E001`` ...);
- ``@Microsoft.KeyVault(...)`` settings are resolved when the app loads (``appauth_django.resolution``);
  ``appauth_django.settings.keyvault_secret()`` reads a secret inside ``settings.py`` itself;
- ``appauth_django.middleware.AppAuthMiddleware`` sets ``request.appauth`` (tokens, secrets, principal);
- ``{% load appauth %}{% keyvault_secret "name" %}`` for the secrets ``TEMPLATE_SECRETS`` allows;
- ``python manage.py appauth whoami | token | secret | check``;
- ``appauth_django.debug.AppAuthExceptionReporterFilter`` keeps secrets off error pages.

The framework-neutral work is ``appauth_core``'s; this package only reads Django's settings into it.
"""
