"""Checking the Entra ID access tokens an API is called with: ``TokenValidator`` gives the ``Caller``.

``bearer_token`` and ``error_response`` are the seam the Django and Flask adapters share (the token out of
the ``Authorization`` header, the RFC 6750 answer to a refused one); ``validator_from_settings`` builds the
validator from their ``API`` setting. Users import ``TokenValidator`` and ``Caller`` from ``appauth_core``.
"""

from ..errors import InsufficientScopeError, SigningKeysUnavailableError, TokenValidationError
from ._bearer import bearer_token, error_response
from ._caller import Caller
from ._settings import validator_from_settings
from ._validator import TokenValidator

__all__ = [
    "Caller",
    "InsufficientScopeError",
    "SigningKeysUnavailableError",
    "TokenValidationError",
    "TokenValidator",
    "bearer_token",
    "error_response",
    "validator_from_settings",
]
