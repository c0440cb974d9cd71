from django.conf import settings
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rotate", views.rotate, name="rotate"),
    path("api/status", views.api_status, name="api-status"),
    path("api/caller", views.api_caller, name="api-caller"),
    path("api/admin", views.api_admin, name="api-admin"),
]

if "EVENTS" in settings.APPAUTH:  # Event Grid's deliveries of Key Vault's rotation events
    urlpatterns.append(path("appauth/events/", include("appauth_django.events")))
