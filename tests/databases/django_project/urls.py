from django.urls import path

from .notes import views

urlpatterns = [path("notes/add", views.add_note), path("whoami", views.whoami)]
