"""``ENGINE: "appauth_django.db.backends.mysql"``: Django's MySQL backend (mysqlclient), signing in with an
Entra ID token (Azure Database for MySQL flexible server)."""
