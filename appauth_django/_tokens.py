"""The one token check behind ``require_token``, ``TokenRequiredMixin`` and the DRF classes: validate the
request's bearer token with the services' validator (sync, or awaited in async views), then give the view a
``request.appauth`` whose ``caller`` is who called; or answer as RFC 6750 says (the core shapes the answer)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse  # type: ignore[import-untyped]

from appauth_core import RequestAppAuth
from appauth_core.validation import Caller, TokenValidationError
from appauth_core.web import AppAuthServices, Required, refusal

from .conf import get_services


def check(request: HttpRequest, need: Required) -> JsonResponse | None:
    """None when the request's token is valid and has what ``need`` asks (``request.appauth.caller`` is then
    set); else the 401 / 403 answer."""
    services = get_services()
    try:
        caller = services.authenticate(_authorization(request), roles=need.roles, scopes=need.scopes)
    except TokenValidationError as error:
        return refused(error)
    bind(request, services, caller)
    return None


async def check_async(request: HttpRequest, need: Required) -> JsonResponse | None:
    """``check`` for async views: the validator's ``validate_async``, so a key fetch never blocks the loop."""
    services = get_services()
    try:
        caller = await services.authenticate_async(_authorization(request), roles=need.roles, scopes=need.scopes)
    except TokenValidationError as error:
        return refused(error)
    bind(request, services, caller)
    return None


def _authorization(request: HttpRequest) -> str | None:
    value: str | None = request.META.get("HTTP_AUTHORIZATION")
    return value


def refused(error: TokenValidationError) -> JsonResponse:
    status, headers, body = refusal(error)
    return JsonResponse(body, status=status, headers=headers)


def bind(request: HttpRequest, services: AppAuthServices, caller: Caller) -> None:
    """``request.appauth`` with ``caller`` (the middleware's facade, if any, has none; without the middleware
    this is the request's only one)."""
    request.appauth = RequestAppAuth(services, caller)
