"""Flask integration for appauth: ``AppAuth(app)`` or ``AppAuth().init_app(app)``.

Config keys are ``APPAUTH_*`` (see ``AppAuth.init_app``); per request ``g.appauth`` gets tokens and
secrets; templates get ``keyvault_secret("name")``; the CLI gets ``flask appauth ...``.
"""

from ._extension import AppAuth

__all__ = ["AppAuth"]
