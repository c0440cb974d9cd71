"""``HttpxTokenAuth``: an ``httpx.Auth`` that puts a cached Entra ID token on each request, for ``httpx.Client``
and ``httpx.AsyncClient`` alike.

    client = httpx.Client(base_url="https://orders.example.com/", auth=HttpxTokenAuth("api://orders",
                          base_url="https://orders.example.com/"))

One flow serves both clients, as httpx intends (``Auth.auth_flow``): ``_flow`` is the one generator, and
``auth_flow`` is it. Where it needs a token the cache does not have ready (a miss, a renewal after a 401), it
either fetches it in place or yields an ask for it. httpx's own docstring on ``Auth`` says a scheme doing network
I/O must not do it inside ``auth_flow`` for ``AsyncClient`` (it would block the event loop), and offers
``async_auth_flow`` for that; so ``Client`` runs the flow fetching in place (httpx's ``sync_auth_flow`` over
``auth_flow``), and ``async_auth_flow`` runs the same flow answering its asks on a worker thread (anyio's, which
httpx runs on: asyncio and trio alike), so a token fetch never blocks the loop. A cached token (every request but
the first per hour or so) needs neither: the flow runs straight through on either client.

Redirects: httpx runs an auth flow once around the whole redirect chain, and its ``_redirect_headers`` drops
``Authorization`` when a redirect leaves the origin (except http to https on the same host), so the flow sees
the last response of the chain; it retries only a 401 to a request that still carried its token. What is
retried, and when: ``_bearer``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import cast

import anyio.to_thread
import httpx

from ._bearer import FETCH, BearerAuth, Renewal, Sent

_Step = httpx.Request | Renewal | str  # a request to send, or an ask: a Renewal, or FETCH
_Flow = Generator[_Step, httpx.Response | Sent, None]


class HttpxTokenAuth(BearerAuth, httpx.Auth):
    """``Authorization: Bearer <token>`` for ``resource`` (an App ID URI such as ``api://orders``, or an Azure
    resource), from ``provider``'s process-wide cache, on ``httpx.Client`` and ``httpx.AsyncClient``;
    ``provider`` None: the process-wide default ``AzureServiceTokenProvider()``, made on first use.

    ``base_url``: the API's base URL (or several): only requests to their origins (scheme, host, port) get the
    token; None: every request it is used on, if https (plain http only to 127.0.0.1, ::1 or localhost). A
    redirect to another origin never carries it (httpx drops it).

    A 401 with a claims challenge is retried once with a new token carrying those claims; any other 401 to a
    cached token is retried once with a new token; a streamed body (an iterator, a file, a multipart upload
    httpx streams) is not retried. Bad arguments raise ``ConfigError``; a failure to get a token raises the
    provider's error.
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow for ``httpx.Client``: ``_flow``, fetching in place."""
        return cast("Generator[httpx.Request, httpx.Response, None]", self._flow(request, in_place=True))

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """What ``httpx.Client`` calls: ``auth_flow`` itself. httpx's own only wraps it in another generator, to
        read request and response bodies this auth never needs read."""
        return self.auth_flow(request)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The flow for ``httpx.AsyncClient``: the same ``_flow``, what it asks for fetched on a worker thread."""
        flow = self._flow(request, in_place=False)
        step = next(flow)
        while True:
            if isinstance(step, httpx.Request):
                answer: httpx.Response | Sent = yield step
            elif isinstance(step, Renewal):
                answer = await anyio.to_thread.run_sync(self._tokens.renew, step)
            else:
                answer = await anyio.to_thread.run_sync(self._tokens.fetch)
            try:
                step = flow.send(answer)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request, *, in_place: bool) -> _Flow:
        """The one flow: the request with the token, and once more with a new token if the 401 is worth it. A
        token the cache does not have ready is fetched here (``in_place``) or asked of the runner (yielded)."""
        tokens, url = self._tokens, request.url
        if not tokens.hosts.allows(url.scheme, url.raw_host, url.port):
            tokens.refused_host(f"{url.scheme}://{url.netloc.decode('ascii')}")  # no user name or password
            yield request
            return
        sent = tokens.cached()
        if sent is None:
            fetched = tokens.fetch() if in_place else (yield FETCH)
            assert isinstance(fetched, Sent)
            sent = fetched
        request.headers["Authorization"] = sent.header
        response = yield request
        assert isinstance(response, httpx.Response)
        if response.status_code != 401:
            return
        renewal = tokens.renewal(
            response.request.headers.get("Authorization"),
            response.headers.get("WWW-Authenticate"),
            sent,
            replayable=isinstance(request.stream, httpx.ByteStream),  # bytes; an iterator is read once
        )
        if renewal is None:
            return
        renewed = tokens.renew(renewal) if in_place else (yield renewal)
        assert isinstance(renewed, Sent)
        request.headers["Authorization"] = renewed.header
        yield request
