"""Django integration for appauth (``INSTALLED_APPS = [..., "appauth_django"]``).

Not available yet: this package only reserves the import name. See README.md, "Status".
"""
