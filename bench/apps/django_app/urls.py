from bench_env import WITH_APPAUTH
from django.urls import path

from . import views

urlpatterns = [
    path("bare", views.bare),
    path("bare-template", views.bare_template),
]
if WITH_APPAUTH:
    urlpatterns += [
        path("secret", views.secret),
        path("secret-template", views.secret_template),
    ]
