"""Flask integration for appauth: ``AppAuth(app)`` or ``AppAuth().init_app(app)``.

Config keys are ``APPAUTH_*`` (see ``AppAuth.init_app``); per request ``g.appauth`` gets tokens and
secrets (``current_appauth`` is the same object, typed as ``RequestAppAuth``); templates get
``keyvault_secret("name")``; the CLI gets ``flask appauth ...``.
"""

from appauth_core import RequestAppAuth

from ._extension import AppAuth
from ._state import current_appauth

__all__ = ["AppAuth", "RequestAppAuth", "current_appauth"]
