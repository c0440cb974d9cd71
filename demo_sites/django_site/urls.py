from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rotate", views.rotate, name="rotate"),
    path("api/status", views.api_status, name="api-status"),
    path("api/caller", views.api_caller, name="api-caller"),
    path("api/admin", views.api_admin, name="api-admin"),
]
