"""The demo's one model: a row written and read on every home page view, through the database backend that
signs in with the managed identity (``appauth_django.db.backends.postgresql``)."""
