"""``ENGINE: "appauth_django.db.backends.postgresql"``: Django's PostgreSQL backend (psycopg 3 or psycopg2),
signing in with an Entra ID token (Azure Database for PostgreSQL flexible server)."""
