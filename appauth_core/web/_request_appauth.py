"""``RequestAppAuth``: what a view gets as Django's ``request.appauth`` and Flask's ``g.appauth``.

Both sit in every template's context (Django's stock ``request`` context processor, Flask's ``g``), so what
they expose is what a template can reach. This facade exposes tokens (also as ``aio``, an async credential
for the ``.aio`` Azure SDK clients), secrets, the principal, the sessions for the configured downstream APIs
(``api(name)``) and who called (``caller``, the validated token's ``Caller``), and nothing else: the configuration
(connection string, cache encryption key), the provider and the vault client stay with the adapter
(``appauth_django.conf.get_services()``, the Flask ``AppAuth`` object's ``services``).

How each template engine is kept out (Django documents ``alters_data`` in "Variables and lookups", Jinja in
``SandboxedEnvironment.is_safe_callable``):

- The methods that return a token, a secret or a session that sends tokens (``api``) are marked
  ``alters_data``: Django's engine renders ``string_if_invalid`` instead of calling them
  (``do_not_call_in_templates`` would hand the template the method itself), and Jinja's sandbox refuses to
  call them.
- ``caller`` holds no token (its repr shows the client id, tenant, roles and scopes), so a template may show it.
- The services the facade works with (and the caller) are in slots whose descriptors are taken off the class:
  no attribute name reaches them, private ones included (Django's engine refuses ``_x``, Jinja reads it). Outside a
  sandbox Jinja runs Python (``__globals__`` reaches every module), so Jinja templates are trusted code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, final

from ..calls import DownstreamApi
from ..tokens._async_credential import AsyncCredential
from ..tokens._result import Principal
from ..validation import Caller
from ._services import NO_DEFAULT, AppAuthServices, D, NoDefault

F = TypeVar("F", bound=Callable[..., Any])


def not_in_templates(method: F) -> F:
    """Mark ``method`` (it returns a token or a secret) as one no template engine may call."""
    setattr(method, "alters_data", True)  # noqa: B010 - a function attribute mypy does not know
    return method


@final
class RequestAppAuth:
    """Tokens, secrets, the principal, downstream APIs and the caller, for one request. Cheap to make (two
    attribute stores); nothing is fetched until a method asks. Views call it; templates use ``keyvault_secret``
    instead. ``caller``: the ``Caller`` whose token the adapter validated for this request (its
    ``require_token``, mixin or DRF authentication class make a new facade with it), None otherwise."""

    __slots__ = ("_caller", "_services")

    def __init__(self, services: AppAuthServices, caller: Caller | None = None) -> None:
        _SERVICES.__set__(self, services)
        _CALLER.__set__(self, caller)

    @not_in_templates
    def get_access_token(self, resource: str, tenant_id: str | None = None) -> str:
        """An access token for ``resource`` (cached, refreshed before it expires)."""
        return _services_of(self).get_access_token(resource, tenant_id)

    @not_in_templates
    async def get_access_token_async(self, resource: str, tenant_id: str | None = None) -> str:
        return await _services_of(self).get_access_token_async(resource, tenant_id)

    @not_in_templates
    def secret(self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT) -> str | D:
        """The value of the Key Vault secret ``name`` in the configured vault (cached); ``default``, when given,
        if there is no such secret (only then: see ``AppAuthServices.secret``)."""
        return _services_of(self).secret(name, version, default=default)

    @not_in_templates
    async def secret_async(
        self, name: str, version: str | None = None, *, default: D | NoDefault = NO_DEFAULT
    ) -> str | D:
        return await _services_of(self).secret_async(name, version, default=default)

    @property
    def principal(self) -> Principal | None:
        """Who the last token was issued to (``None`` before the first token)."""
        return _services_of(self).principal

    @property
    def caller(self) -> Caller | None:
        """Who called this API: the validated token's client id, tenant, roles, scopes (``Caller``), set by
        ``require_token`` (and the mixin, the DRF authentication class); None when no token was validated."""
        caller: Caller | None = _CALLER.__get__(self, RequestAppAuth)
        return caller

    @not_in_templates
    def api(self, name: str) -> DownstreamApi:
        """The session for the downstream API ``name`` of ``DOWNSTREAM_APIS``: bound to its base URL, sending
        the app's token for its resource (cached), pooled per process. ``ConfigError`` naming the configured
        APIs for a name that is not one of them."""
        return _services_of(self).downstream_api(name)

    @property
    def aio(self) -> AsyncCredential:
        """The app's identity as an azure-core async credential, for the ``.aio`` Azure SDK clients:
        ``SecretClient(url, credential=request.appauth.aio)``. The provider's ``aio``: the same tokens. It
        reaches nothing by attribute and no template engine may call it (see ``async_credential``)."""
        return _services_of(self).provider.aio

    def __repr__(self) -> str:
        return "<RequestAppAuth>"

    # One per request, and bound to the services of that moment: a copy is the same object, and it is not
    # pickled (a pickle would carry nothing usable).
    def __copy__(self) -> RequestAppAuth:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RequestAppAuth:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("RequestAppAuth cannot be pickled: make a new one where it is needed")


# The slots' descriptors, taken off the class: ``facade._services`` is then an AttributeError for everyone
# (a template engine included), while this module still reads and writes the slots through them.
_SERVICES = RequestAppAuth.__dict__["_services"]
_CALLER = RequestAppAuth.__dict__["_caller"]
delattr(RequestAppAuth, "_services")
delattr(RequestAppAuth, "_caller")


def _services_of(facade: RequestAppAuth) -> AppAuthServices:
    services: AppAuthServices = _SERVICES.__get__(facade, RequestAppAuth)
    return services
