"""``RequestsTokenAuth``: a ``requests`` auth that puts a cached Entra ID token on each request.

    session.auth = RequestsTokenAuth("api://orders", base_url="https://orders.example.com/")
    requests.get("https://orders.example.com/orders/1", auth=RequestsTokenAuth("api://orders"))

How it meets requests: ``__call__`` sets the header when the request is prepared and registers a response hook;
the hook sees the 401s and sends the request once more through the same adapter (``response.connection``),
as requests' own ``HTTPDigestAuth`` does. Redirects: requests' ``Session.rebuild_auth`` deletes the header when
a redirect leaves the host (or changes port or scheme), and re-applies only a ``.netrc`` entry, never this auth;
the hook, which requests copies onto each redirected request, retries only a 401 to a request that still
carried this auth's token. What is retried, and when: ``_bearer``.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from ._bearer import BearerAuth, Renewal
from ._hosts import shown_origin


class RequestsTokenAuth(BearerAuth, AuthBase):
    """``Authorization: Bearer <token>`` for ``resource`` (an App ID URI such as ``api://orders``, or an Azure
    resource), from ``provider``'s process-wide cache; ``provider`` None: the process-wide default
    ``AzureServiceTokenProvider()``, made on first use.

    ``base_url``: the API's base URL (or several): only requests to their origins (scheme, host, port) get the
    token; None: every request it is used on, if https (plain http only to 127.0.0.1, ::1 or localhost). A
    redirect to another origin never carries it (requests drops it).

    A 401 with a claims challenge is retried once with a new token carrying those claims; any other 401 to a
    cached token is retried once with a new token; a body that is a generator (or a file that cannot seek) is
    not retried. Bad arguments raise ``ConfigError``; a failure to get a token raises the provider's error.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        tokens = self._tokens
        if not tokens.hosts.allows_url(url):
            tokens.refused_host(shown_origin(url))
            return request
        sent = tokens.cached() or tokens.fetch()
        request.headers["Authorization"] = sent.header
        request.hooks["response"].append(self._on_response)
        return request

    def _on_response(self, response: requests.Response, **send_options: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        request = response.request
        answered = request.headers.get("Authorization")
        sent = self._tokens.sent_as(answered)
        if sent is None:
            return response
        renewal = self._tokens.renewal(
            answered,
            response.headers.get("WWW-Authenticate"),
            sent,
            replayable=_replayable(request),
        )
        if renewal is None:
            return response
        return self._retry(response, request, renewal, send_options)

    def _retry(
        self,
        response: requests.Response,
        request: requests.PreparedRequest,
        renewal: Renewal,
        send_options: dict[str, Any],
    ) -> requests.Response:
        renewed = self._tokens.renew(renewal)  # before touching the response: a token failure leaves it as it was
        retry = request.copy()
        if not isinstance(retry.body, (bytes, str, type(None))):
            try:
                rewind_body(retry)  # a file, back to where it was when the request was prepared
            except UnrewindableBodyError:
                return response
        response.content  # noqa: B018 - read to the end, so its connection goes back to the pool
        response.close()
        retry.headers["Authorization"] = renewed.header
        adapter: requests.adapters.BaseAdapter = response.connection
        retried = adapter.send(retry, **send_options)
        retried.history.append(response)
        retried.request = retry
        return retried


def _replayable(request: requests.PreparedRequest) -> bool:
    """Bytes (what ``data=``, ``json=`` and ``files=`` prepare into), no body, or a file whose position requests
    recorded when it prepared the request (``rewind_body`` seeks back to it); not a generator or a pipe."""
    body = request.body
    if body is None or isinstance(body, (bytes, str)):
        return True
    position = getattr(request, "_body_position", None)  # requests' own record, which its rewind_body reads
    return isinstance(position, int) and callable(getattr(body, "seek", None))
