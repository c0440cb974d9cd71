"""The Django app: ``INSTALLED_APPS = [..., "appauth_django"]``."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]
from django.core.signals import setting_changed  # type: ignore[import-untyped]
from django.views.debug import get_default_exception_reporter_filter  # type: ignore[import-untyped]

from . import conf, debug, request, startup


class AppAuthDjangoConfig(AppConfig):  # type: ignore[misc]
    name = "appauth_django"
    verbose_name = "appauth (Azure tokens and Key Vault secrets)"

    def ready(self) -> None:
        """Registers the checks, follows ``setting_changed``, installs the exception reporter filter, makes
        ``request.appauth`` without the middleware say what to add, and resolves ``@Microsoft.KeyVault(...)``
        settings.

        Django's rule is that ``ready()`` does no I/O. Resolving settings references is the documented
        exception (see ``appauth_django.resolution``): it must happen before any code reads a setting that
        still holds a reference, and ``ready()`` is the earliest moment Django runs app code after the
        settings are loaded. Nothing happens when no setting holds a reference, and
        ``APPAUTH['RESOLVE_REFERENCES'] = False`` (or ``APPAUTH_RESOLVE_REFERENCES=0`` in the environment)
        turns it off. A reference that cannot be read stops every process that serves, but not the commands
        that diagnose it (``check``, ``appauth``; see ``appauth_django.startup``).
        """
        from . import _database_checks, checks  # noqa: F401  (registers the system checks)

        setting_changed.connect(conf.on_setting_changed, dispatch_uid="appauth_django.conf")
        _install_exception_reporter_filter()
        request.explain_missing_attribute()
        startup.resolve_at_startup(startup.command_line())


def _install_exception_reporter_filter() -> None:
    """Our filter, unless the project chose one (``appauth.W001`` warns if it is not a subclass of ours)."""
    if settings.is_overridden("DEFAULT_EXCEPTION_REPORTER_FILTER"):
        return
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = debug.FILTER_PATH
    get_default_exception_reporter_filter.cache_clear()
