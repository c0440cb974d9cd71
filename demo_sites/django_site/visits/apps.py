from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "demo_sites.django_site.visits"
    label = "demo_visits"
    default_auto_field = "django.db.models.BigAutoField"
