"""Protected views of the test site (issue 17): ``require_token`` on sync and async views,
``TokenRequiredMixin`` on sync and async class-based views, the DRF classes, and a view calling a downstream
API through ``request.appauth.api(...)``. Each answers with who called."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views import View
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth_django.decorators import require_token
from appauth_django.rest_framework import AppAuthTokenAuthentication, HasAppRole
from appauth_django.views import TokenRequiredMixin
from tests.api_support import describe


def _caller(request: HttpRequest, **extra: Any) -> JsonResponse:
    return JsonResponse({**describe(request.appauth.caller), **extra})


@require_token
def whoami(request: HttpRequest) -> JsonResponse:
    return _caller(request)


@require_token()
async def whoami_async(request: HttpRequest) -> JsonResponse:
    return _caller(request)


@require_token(roles="Orders.Read")
def orders(request: HttpRequest) -> JsonResponse:
    return _caller(request, orders=[1, 2])


@require_token(roles=["Orders.Read"])
async def orders_async(request: HttpRequest) -> JsonResponse:
    return _caller(request, orders=[1, 2])


@require_token(roles="Orders.Write")
def add_order(request: HttpRequest) -> JsonResponse:
    return _caller(request, added=json.loads(request.body))


@require_token(scopes="Orders.Read")
def my_orders(request: HttpRequest) -> JsonResponse:
    return _caller(request, orders=[3])


def unprotected(request: HttpRequest) -> JsonResponse:
    return _caller(request)


class OrdersView(TokenRequiredMixin, View):
    required_roles = ("Orders.Read",)

    def get(self, request: HttpRequest) -> JsonResponse:
        return _caller(request, view="OrdersView")


class AsyncOrdersView(TokenRequiredMixin, View):
    required_roles = "Orders.Read"

    async def get(self, request: HttpRequest) -> JsonResponse:
        return _caller(request, view="AsyncOrdersView")


class DrfOrders(APIView):
    authentication_classes = (AppAuthTokenAuthentication,)
    permission_classes = (HasAppRole,)
    renderer_classes = (JSONRenderer,)
    required_roles = ("Orders.Read",)

    def get(self, request: Any) -> Response:
        return Response(
            {
                **describe(request.auth),
                "user": request.user.username,
                "same_caller": request.appauth.caller is request.auth,
            }
        )


class DrfAnyCaller(DrfOrders):
    required_roles = ()


def downstream(request: HttpRequest) -> JsonResponse:
    """Calls the downstream API named in the query string (``APPAUTH['DOWNSTREAM_APIS']``)."""
    answer = request.appauth.api(request.GET.get("api", "orders")).get(request.GET.get("path", "whoami"))
    return JsonResponse({"status": answer.status_code, "body": answer.json()})
