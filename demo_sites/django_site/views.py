"""The home page (tokens, secrets and a call to the Flask site's API through ``request.appauth``), "rotate",
the status endpoint, and this site's own API, which only Entra ID tokens for it may call (``require_token``)."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from appauth_django.conf import get_services
from appauth_django.decorators import require_token
from demo_sites.common import ADMIN_ROLE, READ_ROLE, caller_answer, home_page, status
from demo_sites.common import rotate as rotate_greeting


@sensitive_variables("page")  # it holds a secret value: keep it off error pages
def home(request: HttpRequest) -> HttpResponse:
    page = home_page(request.appauth, get_services())  # type: ignore[attr-defined]
    return render(request, "home.html", {"page": page, "framework": "Django", "access": "request.appauth"})


@sensitive_variables("body")
def api_status(request: HttpRequest) -> JsonResponse:
    body, code = status(request.appauth)  # type: ignore[attr-defined]
    return JsonResponse(body, status=code)


@require_POST
def rotate(request: HttpRequest) -> HttpResponse:
    rotate_greeting(get_services())
    return HttpResponseRedirect("/?rotated=1")


@require_GET
@require_token(roles=READ_ROLE)
def api_caller(request: HttpRequest) -> JsonResponse:
    """Who called, as the validated token says: the Flask site's home page shows this answer."""
    return JsonResponse(caller_answer(request.appauth.caller, "Django"))  # type: ignore[attr-defined]


@require_GET
@require_token(roles=ADMIN_ROLE)  # a role the demo's identity does not hold: 403 insufficient_scope
def api_admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse(caller_answer(request.appauth.caller, "Django"))  # type: ignore[attr-defined]
