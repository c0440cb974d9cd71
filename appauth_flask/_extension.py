"""The ``AppAuth`` Flask extension: reads ``APPAUTH_*`` config into the core's ``AppAuthServices`` and
wires it into the app (``g.appauth``, the ``keyvault_secret`` template global, ``flask appauth``); its
``require_token`` protects views with Entra ID token validation."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from flask import Flask, current_app, g

from appauth_core import Principal, RequestAppAuth
from appauth_core._internal.frame_locals import clears_locals
from appauth_core.web import NO_DEFAULT, AppAuthServices, D, NoDefault, required

from ._cli import appauth_cli
from ._databases import use_token_password
from ._events import register_events
from ._references import find_config_references
from ._settings import build_services, read_config
from ._startup import resolve_at_init
from ._state import EXTENSION, REFERENCES, services_for
from ._templates import keyvault_secret
from ._tokens import protect

View = TypeVar("View", bound=Callable[..., Any])


class AppAuth:
    """Azure tokens and Key Vault secrets for Flask apps. One object may serve several apps (app
    factories, tests): it keeps no app and no state; each app's state is in ``app.extensions["appauth"]``.

    Outside a request (CLI commands, background jobs in an app context) use the object itself:
    ``appauth.get_access_token(resource)``, ``appauth.secret(name)``; in a request, ``g.appauth``.
    """

    use_token_password = use_token_password  # appauth.use_token_password(db): see _databases.py

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    @clears_locals  # read_config's and resolution's frames hold the config (AppKey) and resolved secrets
    def init_app(self, app: Flask) -> None:
        """Validate the config, resolve Key Vault references in it, and wire appauth into ``app``.

        Reads (all optional): ``APPAUTH_CONNECTION_STRING`` (``RunAs=...``; default: the
        ``AzureServicesAuthConnectionString`` variable, else managed identity → Visual Studio → Azure CLI),
        ``APPAUTH_AZURE_AD_INSTANCE``, ``APPAUTH_KEY_VAULT_URL``, ``APPAUTH_SECRET_CACHE_SECONDS`` (300),
        ``APPAUTH_TEMPLATE_SECRETS`` (names templates may render), ``APPAUTH_RESOLVE_REFERENCES`` (True),
        ``APPAUTH_CACHE`` (a Flask-Caching ``Cache`` shared by workers), ``APPAUTH_CACHE_ENCRYPTION_KEY``,
        ``APPAUTH_ALLOWED_VAULT_HOSTS``, ``APPAUTH_VAULT_SUFFIX`` (what ``VaultName=`` references resolve under),
        ``APPAUTH_KEY_VAULT_RESOURCE``; for the tokens this app's API is called with (``require_token``):
        ``APPAUTH_API_AUDIENCE`` (its App ID URI and/or client id), ``APPAUTH_API_TENANT_ID`` or
        ``APPAUTH_API_ALLOWED_TENANTS``, ``APPAUTH_API_ALLOWED_CLIENT_IDS``, ``APPAUTH_API_AUTHORITY``,
        ``APPAUTH_API_LEEWAY``; for the APIs it calls (``g.appauth.api(name)``): ``APPAUTH_DOWNSTREAM_APIS``
        (``{"orders": {"BASE_URL": ..., "RESOURCE": ..., "TIMEOUT": ...}}``). Any other ``APPAUTH_*`` key is an
        error.

        Raises ``ConfigError`` (naming the key) for a wrong setting and ``ReferenceResolutionError`` (naming
        the key) for a ``@Microsoft.KeyVault(...)`` value that cannot be read, so a broken deployment stops
        at startup, except when the app is loaded for ``flask appauth ...``, which then says what failed.
        The only I/O is resolving references, all at once; ``APPAUTH_RESOLVE_REFERENCES=0`` in the
        environment turns it off (builds, CI).
        """
        if EXTENSION in app.extensions:
            raise RuntimeError(f"appauth is already initialised on the app {app.name!r}: call init_app once per app.")
        config = read_config(app)
        services = build_services(app, config)
        references = find_config_references(app)
        if config.resolve_references and references:
            try:
                resolve_at_init(app, services)  # `flask appauth ...` starts even if one cannot be read
            except BaseException:
                services.close()
                raise
        app.extensions[EXTENSION] = services
        app.extensions[REFERENCES] = references
        # Nothing is opened per request, so there is nothing to close at app-context teardown: the token
        # cache is process-wide and the vault clients (HTTP connection pools) live as long as the app.
        # They are closed when the app is garbage-collected, or at interpreter exit.
        weakref.finalize(app, services.close)
        # First, so other extensions' before_request functions can already use g.appauth.
        app.before_request_funcs.setdefault(None, []).insert(0, _bind_to_request)
        app.add_template_global(keyvault_secret, "keyvault_secret")
        app.cli.add_command(appauth_cli)
        register_events(app, services)  # the Event Grid webhook, when APPAUTH_EVENTS_* are set

    @property
    def services(self) -> AppAuthServices:
        """The current app's ``AppAuthServices``: ``.provider`` (an azure-core credential for Azure SDK clients),
        ``.secrets``, ``.config``, for code that needs more than ``g.appauth``; needs an app context. Keep it out
        of template contexts: it holds the configuration."""
        return services_for(current_app)

    def get_access_token(self, resource: str, tenant_id: str | None = None) -> str:
        return self.services.get_access_token(resource, tenant_id)

    async def get_access_token_async(self, resource: str, tenant_id: str | None = None) -> str:
        return await self.services.get_access_token_async(resource, tenant_id)

    def secret(self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT) -> str | D:
        """The secret's value; ``default``, when given, if there is no such secret (see ``AppAuthServices.secret``)."""
        return self.services.secret(name, version, default=default)

    async def secret_async(
        self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT
    ) -> str | D:
        return await self.services.secret_async(name, version, default=default)

    @property
    def principal(self) -> Principal | None:
        """Who the last token was issued to (``None`` before the first token)."""
        return self.services.principal

    @overload
    def require_token(self, roles: View, /) -> View: ...
    @overload
    def require_token(
        self, roles: str | Iterable[str] = (), scopes: str | Iterable[str] = ()
    ) -> Callable[[View], View]: ...
    def require_token(self, roles: Any = (), scopes: str | Iterable[str] = ()) -> Any:
        """Decorate a view (sync or ``async def``) so that it runs only for a valid bearer token (checked as
        ``APPAUTH_API_*`` say) holding every app role in ``roles`` (the ``roles`` claim) and every delegated
        scope in ``scopes`` (``scp``); a string is one name, and ``@appauth.require_token`` alone asks only
        for a valid token. Then ``g.appauth.caller`` is who called. Otherwise the view does not run: no token
        is 401 ``WWW-Authenticate: Bearer``, a token that is not valid for this API 401
        ``Bearer error="invalid_token"``, a missing role or scope 403 ``insufficient_scope``, each with a
        small JSON body (the reason is logged to ``appauth_core``). Put it under ``@app.route``."""
        if callable(roles):  # @appauth.require_token, without the parentheses
            return self.require_token()(roles)
        need = required(roles, scopes, where="AppAuth.require_token({}=...)")
        return lambda view: protect(view, need)


def _bind_to_request() -> None:
    """``g.appauth`` is a ``RequestAppAuth`` over the app's long-lived services: tokens, secrets and the
    principal, and nothing else, since templates see ``g``. Binding it stores one small object; nothing (token,
    secret) is fetched until a view calls one of its methods."""
    g.appauth = RequestAppAuth(services_for(current_app))
