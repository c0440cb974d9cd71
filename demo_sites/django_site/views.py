"""The home page (tokens, secrets and a call to the Flask site's API through ``request.appauth``), "rotate",
the status endpoint, and this site's own API, which only Entra ID tokens for it may call (``require_token``)."""

import os

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from appauth_core import AppAuthError
from appauth_django.conf import get_services
from appauth_django.decorators import require_token
from demo_sites.common import (
    ADMIN_ROLE,
    READ_ROLE,
    VISITS_SHOWN,
    DatabaseStatus,
    caller_answer,
    database_failed,
    database_unavailable,
    home_page,
    status,
)
from demo_sites.common import rotate as rotate_greeting


@sensitive_variables("page")  # it holds a secret value: keep it off error pages
def home(request: HttpRequest) -> HttpResponse:
    page = home_page(request.appauth, get_services())  # type: ignore[attr-defined]
    page.database = database_status()
    return render(request, "home.html", {"page": page, "framework": "Django", "access": "request.appauth"})


def database_status() -> DatabaseStatus:
    """Write a row and read the newest ones through the ORM, as the managed identity (``DATABASES``)."""
    from .visits.models import Visit

    if "default" not in settings.DATABASES:
        return database_unavailable("PostgreSQL", "DEMO_POSTGRES_UNAVAILABLE")
    entry = settings.DATABASES["default"]
    status = DatabaseStatus("PostgreSQL", server=f"{entry['HOST']}:{entry['PORT']}/{entry['NAME']}")
    try:
        Visit.objects.create(worker=os.getpid())
        status.visits = Visit.objects.count()
        status.recent = [{"at": visit.at, "worker": visit.worker} for visit in Visit.objects.all()[:VISITS_SHOWN]]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, current_setting('server_version'), ssl.version || ' ' || ssl.cipher"
                " FROM pg_stat_ssl AS ssl WHERE ssl.pid = pg_backend_pid()"
            )
            status.user, status.version, status.tls = cursor.fetchone()
    except (DatabaseError, AppAuthError) as error:  # the page says why instead of failing
        return database_failed(status, error)
    return status


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
