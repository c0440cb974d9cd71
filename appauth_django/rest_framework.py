"""Django REST framework classes (``pip install appauth[rest_framework]``): Entra ID bearer tokens for
``APIView`` and viewsets, checked as ``APPAUTH['API']`` says.

::

    from appauth_django.rest_framework import AppAuthTokenAuthentication, HasAppRole

    class OrdersView(APIView):
        authentication_classes = [AppAuthTokenAuthentication]
        permission_classes = [HasAppRole]
        required_roles = ["Orders.Read"]     # app roles (``roles`` claim); ``required_scopes`` for users' ``scp``

        def get(self, request):
            return Response({"caller": request.auth.client_id})

- ``AppAuthTokenAuthentication``: a request with a valid bearer token is authenticated: ``request.auth`` is
  its ``Caller`` (also ``request.appauth.caller``), ``request.user`` a ``CallerUser`` (no database row). No
  bearer token: not attempted (DRF's rule), so other classes may try and DRF answers 401 with
  ``WWW-Authenticate: Bearer`` when the view needs a caller. A token that is not valid: 401 with
  ``Bearer error="invalid_token"`` and ``{"error": "invalid_token", "error_description": ...}``; signing keys
  that cannot be fetched (none cached): 503 with ``Retry-After`` (``Unavailable``). List it first in
  ``authentication_classes``: DRF takes the 401 challenge from the first class, and answers 403 without one.
- ``HasAppRole``: the caller's token must hold every role in the view's ``required_roles`` and every scope in
  its ``required_scopes`` (the names ``TokenRequiredMixin`` reads too); otherwise 403 with
  ``Bearer error="insufficient_scope"``. Without ``AppAuthTokenAuthentication``'s caller: DRF's 401.

DRF's views are sync; so are these classes.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication  # type: ignore[import-untyped]
from rest_framework.exceptions import (  # type: ignore[import-untyped]
    APIException,
    AuthenticationFailed,
    PermissionDenied,
)
from rest_framework.permissions import BasePermission  # type: ignore[import-untyped]

from appauth_core.validation import (
    Caller,
    InsufficientScopeError,
    SigningKeysUnavailableError,
    TokenValidationError,
    bearer_token,
)
from appauth_core.web import refusal, required

from ._tokens import bind
from .conf import get_services

__all__ = ["AppAuthTokenAuthentication", "CallerUser", "HasAppRole", "InsufficientScope", "Unavailable"]

_CHALLENGE = "_appauth_challenge"  # the DRF request's attribute for the challenge of a refused token


class CallerUser:
    """``request.user`` for a token's caller: authenticated, with no database row (as SimpleJWT's
    ``TokenUser``). ``username`` and ``pk`` are the token's subject (its ``sub``: the calling app's or user's
    object id for this API), so DRF's per-user throttles count each caller on its own."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.pk = self.id = self.username = caller.subject

    def get_username(self) -> str:
        return str(self.username)

    def __str__(self) -> str:
        return str(self.username)

    def __repr__(self) -> str:
        return f"<CallerUser {self.caller!r}>"


class AppAuthTokenAuthentication(BaseAuthentication):  # type: ignore[misc]
    """Authenticates a request by its ``Authorization: Bearer`` token (see the module docstring)."""

    def authenticate(self, request: Any) -> tuple[CallerUser, Caller] | None:
        services = get_services()
        validator = services.validator  # no APPAUTH['API']: ConfigError, whether a token came or not
        try:
            token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        except TokenValidationError:
            return None  # no bearer token: not this method's request (DRF's rule)
        try:
            caller = validator.validate(token)
        except SigningKeysUnavailableError as error:
            raise Unavailable(*refusal(error)) from None
        except TokenValidationError as error:
            _status, headers, body = refusal(error)
            setattr(request, _CHALLENGE, headers["WWW-Authenticate"])
            raise AuthenticationFailed(body) from None
        finally:
            del token  # this frame stays in a refusal's traceback: it must not hold the token
        bind(request._request, services, caller)  # the HttpRequest under DRF's: request.appauth.caller
        return CallerUser(caller), caller

    def authenticate_header(self, request: Any) -> str:
        """The 401's ``WWW-Authenticate``: the refused token's challenge, else plain ``Bearer``."""
        return str(getattr(request, _CHALLENGE, "Bearer"))


class InsufficientScope(PermissionDenied):  # type: ignore[misc]
    """403 with ``WWW-Authenticate: Bearer error="insufficient_scope"`` (DRF's handler sends ``auth_header``)."""

    def __init__(self, body: dict[str, Any], challenge: str) -> None:
        super().__init__(body)
        self.auth_header = challenge


class Unavailable(APIException):  # type: ignore[misc]
    """503 with ``Retry-After``: the authority's signing keys cannot be had, so no token can be checked now
    (the token may be valid: a 401 would make the caller drop it)."""

    def __init__(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status_code = status
        self.wait = int(headers.get("Retry-After", "0")) or None


class HasAppRole(BasePermission):  # type: ignore[misc]
    """The caller's token holds the view's ``required_roles`` and ``required_scopes`` (see the module docstring)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        caller = request.auth
        if not isinstance(caller, Caller):
            return False  # DRF answers 401 (no caller was authenticated) or 403 (another kind of caller)
        need = required(
            getattr(view, "required_roles", ()),
            getattr(view, "required_scopes", ()),
            where=f"{type(view).__name__}.required_{{}}",
        )
        try:
            get_services().validator.authorize(caller, roles=need.roles, scopes=need.scopes)
        except InsufficientScopeError as error:
            _status, headers, body = refusal(error)
            raise InsufficientScope(body, headers["WWW-Authenticate"]) from None
        return True
