"""``AppAuth.require_token``: the view runs only for a valid bearer token (``APPAUTH_API_*``), with
``g.appauth.caller`` set to who called; otherwise the RFC 6750 answer the core shapes (``refusal``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, jsonify, request

from appauth_core import RequestAppAuth
from appauth_core.validation import TokenValidationError
from appauth_core.web import Required, refusal

from ._state import services_for

View = TypeVar("View", bound=Callable[..., Any])


def protect(view: View, need: Required) -> View:
    """``view`` behind the token check (``validate_async`` for an ``async def`` view)."""
    if inspect.iscoroutinefunction(view):

        @wraps(view)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            services = services_for(current_app)
            try:
                caller = await services.authenticate_async(
                    request.headers.get("Authorization"), roles=need.roles, scopes=need.scopes
                )
            except TokenValidationError as error:
                return _refused(error)
            g.appauth = RequestAppAuth(services, caller)
            return await view(*args, **kwargs)

        return async_view  # type: ignore[return-value]

    @wraps(view)
    def sync_view(*args: Any, **kwargs: Any) -> Any:
        services = services_for(current_app)
        try:
            caller = services.authenticate(request.headers.get("Authorization"), roles=need.roles, scopes=need.scopes)
        except TokenValidationError as error:
            return _refused(error)
        g.appauth = RequestAppAuth(services, caller)
        return view(*args, **kwargs)

    return sync_view  # type: ignore[return-value]


def _refused(error: TokenValidationError) -> Response:
    status, headers, body = refusal(error)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response
