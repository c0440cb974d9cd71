"""``require_token``: a view only Entra ID access tokens for this API may call (``APPAUTH['API']``).

::

    from appauth_django.decorators import require_token

    @require_token(roles=["Orders.Read"])
    def orders(request):
        caller = request.appauth.caller  # client_id, tenant_id, roles, scopes, is_app ...
        return JsonResponse({"caller": caller.client_id})

Sync and async views alike (an async view's token is checked with ``validate_async``). A request without a
bearer token gets 401 with ``WWW-Authenticate: Bearer``; a token that is not valid for this API (signature,
issuer, tenant, audience, expiry, caller) 401 with ``Bearer error="invalid_token"``; a valid token without
every role and scope the view names 403 ``insufficient_scope``; signing keys that cannot be fetched (none
cached) 503 with ``Retry-After``; each with a small JSON body
``{"error": ..., "error_description": ...}`` that says nothing more (the reason is logged, at INFO, to the
``appauth_core`` logger). The view is exempt from Django's CSRF check: a request it accepts carries a token
no other site can attach, where CSRF is about the cookies a browser does attach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest  # type: ignore[import-untyped]

from appauth_core.web import required

from ._tokens import check, check_async

View = TypeVar("View", bound=Callable[..., Any])

__all__ = ["require_token"]


@overload
def require_token(roles: View, /) -> View: ...
@overload
def require_token(roles: str | Iterable[str] = (), scopes: str | Iterable[str] = ()) -> Callable[[View], View]: ...
def require_token(roles: Any = (), scopes: str | Iterable[str] = ()) -> Any:
    """Decorate a view so that it runs only for a valid bearer token holding every app role in ``roles``
    (the token's ``roles`` claim: app-only callers) and every delegated scope in ``scopes`` (``scp``: a
    user's token). A string is one name. ``@require_token`` without arguments only asks for a valid token."""
    if callable(roles):  # @require_token, without the parentheses
        return require_token()(roles)
    need = required(roles, scopes, where="require_token({}=...)")

    def decorate(view: View) -> View:
        if iscoroutinefunction(view):

            @wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refusal = await check_async(request, need)
                return refusal if refusal is not None else await view(request, *args, **kwargs)

            wrapper: Any = async_view
        else:

            @wraps(view)
            def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refusal = check(request, need)
                return refusal if refusal is not None else view(request, *args, **kwargs)

            wrapper = sync_view
        wrapper.csrf_exempt = True  # what django.views.decorators.csrf.csrf_exempt sets, for any view kind
        return wrapper  # type: ignore[no-any-return]

    return decorate
