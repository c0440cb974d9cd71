"""Two views: the home page (tokens and secrets through ``request.appauth``) and "rotate"."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from appauth_django.conf import get_services
from demo_sites.common import home_page, status
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
