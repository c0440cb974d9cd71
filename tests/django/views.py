"""Views of the test site: each uses ``request.appauth`` the way an app would, sync and async."""

from __future__ import annotations

import threading

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from appauth_core.tokens import unverified_claims

VAULT = "https://vault.azure.net"


def _describe(request: HttpRequest, token: str) -> JsonResponse:
    claims = unverified_claims(token)
    return JsonResponse({"appid": claims.get("appid"), "aud": claims.get("aud"), "thread": threading.get_ident()})


def token_sync(request: HttpRequest) -> JsonResponse:
    return _describe(request, request.appauth.get_access_token(request.GET.get("resource", VAULT)))


async def token_async(request: HttpRequest) -> JsonResponse:
    return _describe(request, await request.appauth.get_access_token_async(request.GET.get("resource", VAULT)))


def secret_sync(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"value": request.appauth.secret(request.GET["name"])})


async def secret_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"value": await request.appauth.secret_async(request.GET["name"])})


def principal(request: HttpRequest) -> JsonResponse:
    request.appauth.get_access_token(VAULT)
    who = request.appauth.principal
    return JsonResponse({"type": who.type, "app_id": who.app_id, "tenant_id": who.tenant_id})


def banner(request: HttpRequest) -> HttpResponse:
    return render(request, "banner.html")


def settings_secrets(request: HttpRequest) -> JsonResponse:
    """What settings-time resolution put in place (a test site may show it; a real one must not)."""
    return JsonResponse(
        {"secret_key": settings.SECRET_KEY, "db_password": settings.DATABASES["default"].get("PASSWORD")}
    )


def untouched(request: HttpRequest) -> HttpResponse:
    """Never touches request.appauth: the middleware must cost no I/O here."""
    return HttpResponse("ok")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")
