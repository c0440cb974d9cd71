"""``AppAuthMiddleware``: ``request.appauth``, lazily, in sync (WSGI) and async (ASGI) stacks alike.

Like Django's ``AuthenticationMiddleware`` (``request.user``), it only binds a ``SimpleLazyObject``: no
token or secret is fetched unless the view uses one, and the services are looked up when first touched,
so a request after ``override_settings`` gets the services for the settings of that moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped]
from django.utils.functional import SimpleLazyObject  # type: ignore[import-untyped]

from .conf import request_appauth

GetResponse = Callable[[HttpRequest], Any]


class AppAuthMiddleware:
    """Sets ``request.appauth``, an ``appauth_core.RequestAppAuth``:
    ``get_access_token(resource, tenant_id=None)``, ``await get_access_token_async(...)``,
    ``secret(name, version=None)``, ``await secret_async(...)``, ``principal``. Templates see the request
    (Django's ``request`` context processor), so it holds nothing else (see ``RequestAppAuth``).

    Both sync and async capable, so under ASGI it adds no thread switch (Django's own middleware pattern).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        request.appauth = SimpleLazyObject(request_appauth)
        response: HttpResponseBase = self.get_response(request)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        request.appauth = SimpleLazyObject(request_appauth)
        response: HttpResponseBase = await self.get_response(request)
        return response
