"""What both framework adapters share (the seam they are built on): the framework-neutral configuration,
the per-app services and the per-request facade, startup reference resolution, system-check and CLI
diagnostics, the helpers of ``_seam`` (spelling a settings path, writing resolved values back, the template
rule), look-alike setting names, the framework-cache adapter and the token checks of protected views.
No Django or Flask import here: each adapter reads its own settings into these objects.

Users import the public names from ``appauth_core``; the rest is for ``appauth_django`` and ``appauth_flask``.
"""

from ..errors import ConfigError, ReferenceResolutionError, TemplateSecretNotAllowedError
from . import _diagnostics as diagnostics
from ._api_settings import API_KEYS, DownstreamApiSettings
from ._config import KEYS, AppAuthConfig
from ._diagnostics import Line, Report
from ._framework_cache import ObjectCacheAdapter
from ._look_alike_settings import SettingNameWarning, look_alike
from ._reference_checks import reference_problems
from ._request_appauth import RequestAppAuth
from ._seam import changed_settings, spell_path, template_secret_or_blank
from ._services import (
    NO_DEFAULT,
    AppAuthServices,
    D,
    NoDefault,
    connection_string_setting,
)
from ._startup import RESOLVE_VARIABLE, resolution_override, unreadable_references
from ._token_checks import Required, refusal, required

__all__ = [
    "API_KEYS",
    "KEYS",
    "NO_DEFAULT",
    "RESOLVE_VARIABLE",
    "AppAuthConfig",
    "AppAuthServices",
    "ConfigError",
    "D",
    "DownstreamApiSettings",
    "Line",
    "NoDefault",
    "ObjectCacheAdapter",
    "ReferenceResolutionError",
    "Report",
    "RequestAppAuth",
    "Required",
    "SettingNameWarning",
    "TemplateSecretNotAllowedError",
    "changed_settings",
    "connection_string_setting",
    "diagnostics",
    "look_alike",
    "reference_problems",
    "refusal",
    "required",
    "resolution_override",
    "spell_path",
    "template_secret_or_blank",
    "unreadable_references",
]
