"""Flask integration for appauth (``AppAuth().init_app(app)``).

Not available yet: this package only reserves the import name. See README.md, "Status".
"""
