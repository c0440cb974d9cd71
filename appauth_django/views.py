"""``TokenRequiredMixin``: ``require_token`` for class-based views.

::

    from django.views import View
    from appauth_django.views import TokenRequiredMixin

    class OrdersView(TokenRequiredMixin, View):
        required_roles = ["Orders.Read"]     # app roles the caller's token must hold (``roles`` claim)
        required_scopes = ()                 # delegated scopes (``scp``), for users' tokens

        def get(self, request):
            return JsonResponse({"caller": request.appauth.caller.client_id})

List it before ``View`` (or any view class). ``OrdersView.as_view(required_roles=[...])`` sets them per URL.
Async views (every handler ``async def``) are checked with ``validate_async``. The answers, and the CSRF
exemption, are ``require_token``'s (``appauth_django.decorators``). The attributes are named as DRF's
``HasAppRole`` reads them, so one view class can serve both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped]

from appauth_core.web import Required, required

from ._tokens import check, check_async

__all__ = ["TokenRequiredMixin"]


class TokenRequiredMixin:
    """Runs the view only for a valid bearer token holding ``required_roles`` and ``required_scopes``
    (each a string or a list of strings); ``request.appauth.caller`` is then who called."""

    required_roles: str | Iterable[str] = ()
    required_scopes: str | Iterable[str] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _required(cls, cls.required_roles, cls.required_scopes)  # a wrong value fails where the class is defined

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Any]:
        _required(
            cls,
            initkwargs.get("required_roles", cls.required_roles),
            initkwargs.get("required_scopes", cls.required_scopes),
        )
        view: Callable[..., Any] = super().as_view(**initkwargs)  # type: ignore[misc]
        view.csrf_exempt = True  # type: ignore[attr-defined]  # see appauth_django.decorators
        return view

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        need = _required(type(self), self.required_roles, self.required_scopes)
        if getattr(self, "view_is_async", False):
            return self._dispatch_async(need, request, *args, **kwargs)
        refusal = check(request, need)
        return refusal if refusal is not None else super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _dispatch_async(self, need: Required, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        refusal = await check_async(request, need)
        if refusal is not None:
            return refusal
        response: Awaitable[HttpResponseBase] = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return await response


def _required(cls: type, roles: str | Iterable[str], scopes: str | Iterable[str]) -> Required:
    return required(roles, scopes, where=f"{cls.__name__}.required_{{}}")
