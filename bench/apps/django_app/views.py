"""The views the benchmark loads: each ``secret`` view is its ``bare`` twin plus one cached secret read."""

from bench_env import CONSTANT, SECRET_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT, content_type="text/plain")


def secret(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.appauth.secret(SECRET_NAME), content_type="text/plain")  # type: ignore[attr-defined]


def bare_template(request: HttpRequest) -> HttpResponse:
    return render(request, "bare.html", {"value": CONSTANT})


def secret_template(request: HttpRequest) -> HttpResponse:
    return render(request, "secret.html", {"name": SECRET_NAME})
