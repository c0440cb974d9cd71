"""Calling your other APIs with the app's identity: ``RequestsTokenAuth`` (requests), ``HttpxTokenAuth`` (httpx,
sync and async; the ``httpx`` extra) and ``DownstreamApi`` (a session bound to one API's base URL). The token
comes from the provider's process-wide cache, a 401 is retried once with a new token when that can help, and
the token never goes to another host (docs/calling-apis.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._downstream import DEFAULT_TIMEOUT, DownstreamApi
from ._hosts import check_base_url
from ._requests_auth import RequestsTokenAuth

if TYPE_CHECKING:
    from ._httpx_auth import HttpxTokenAuth

__all__ = ["DEFAULT_TIMEOUT", "DownstreamApi", "HttpxTokenAuth", "RequestsTokenAuth", "check_base_url"]


def __getattr__(name: str) -> Any:
    """``HttpxTokenAuth`` is imported on first use, so that appauth imports without httpx installed."""
    if name == "HttpxTokenAuth":
        try:
            from ._httpx_auth import HttpxTokenAuth
        except ModuleNotFoundError as missing:
            if missing.name not in ("httpx", "anyio"):
                raise
            raise ImportError(
                "HttpxTokenAuth needs httpx: pip install 'appauth[httpx]' (RequestsTokenAuth needs only requests)"
            ) from None
        return HttpxTokenAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
