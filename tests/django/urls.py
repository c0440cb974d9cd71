from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("token/sync", views.token_sync),
    path("token/async", views.token_async),
    path("secret/sync", views.secret_sync),
    path("secret/async", views.secret_async),
    path("principal", views.principal),
    path("banner", views.banner),
    path("settings-secrets", views.settings_secrets),
    path("untouched", views.untouched),
    path("boom", views.boom),
    path("api/", include("tests.django.api_urls")),
]
