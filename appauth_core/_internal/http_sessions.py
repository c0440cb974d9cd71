"""The one place appauth builds a ``requests`` session: ``new_session``.

Every session it returns keeps appauth's reply limits (``http_limits``: a deadline for the whole reply, a
size cap), shares one TLS context per CA bundle (``http_trust``), never follows a redirect, and drops its
pooled connections in a forked child (``fork_safety``). The variants are arguments: ``https_only`` (refuse
plain http, for sessions that carry a secret), ``retries`` (urllib3's ``Retry`` below the caller),
``pinned_sha1`` (trust one certificate by its thumbprint instead of any CA), ``use_environment`` (proxies,
netrc and CA bundle from the environment) and ``timeout`` (the default for each request).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import DEFAULT_POOLSIZE
from urllib3.util.retry import Retry

from . import fork_safety
from .http_limits import HttpsOnlyAdapter, LimitedAdapter


class _Session(requests.Session):
    """``requests.Session`` that never follows a redirect and gives each request ``timeout`` unless it has
    its own."""

    def __init__(self, timeout: float | None) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self._timeout is not None:
            kwargs.setdefault("timeout", self._timeout)
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


class PinnedCertificateAdapter(LimitedAdapter):
    """HTTPS whose only trust anchor is the SHA-1 of the server's DER certificate (40 hex digits).

    urllib3 checks ``assert_fingerprint`` right after the TLS handshake, before a byte of the request is sent.
    CA validation and any ``verify=`` / ``REQUESTS_CA_BUNDLE`` are off: the pin replaces them. Proxies are
    refused, since a forwarding proxy would present its own certificate. No retries."""

    def __init__(self, thumbprint: str, *, max_bytes: int) -> None:
        self._thumbprint = thumbprint
        super().__init__(max_retries=0, max_bytes=max_bytes)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, assert_fingerprint=self._thumbprint, **pool_kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> Any:
        return super().build_connection_pool_key_attributes(request, False, cert)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, False, cert)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise requests.exceptions.SSLError("an endpoint pinned to one certificate is never reached through a proxy")


def new_session(
    *,
    max_bytes: int,
    https_only: bool = False,
    retries: Retry | int = 0,
    pinned_sha1: str | None = None,
    use_environment: bool = True,
    timeout: float | None = None,
    pool_connections: int = DEFAULT_POOLSIZE,
    pool_maxsize: int = DEFAULT_POOLSIZE,
) -> requests.Session:
    """A session whose replies are at most ``max_bytes`` (see the module docstring for what every session
    does). ``https_only``: a plain-http request fails unsent (``PlainHttpRefusedError``). ``retries``:
    ``HTTPAdapter``'s ``max_retries``. ``pinned_sha1``: https only, trusting only the certificate with this
    SHA-1 thumbprint (lower-case hex), never through a proxy, never retried, nothing read from the
    environment. ``use_environment`` False: no proxies, netrc or CA bundle from the environment
    (``Session.trust_env``). ``timeout``: each request's unless it passes its own. ``pool_connections``,
    ``pool_maxsize``: as ``HTTPAdapter``'s."""
    session = _Session(timeout)
    session.trust_env = use_environment and pinned_sha1 is None
    adapter: LimitedAdapter
    if pinned_sha1 is not None:
        adapter = PinnedCertificateAdapter(pinned_sha1, max_bytes=max_bytes)
    else:
        adapter = LimitedAdapter(
            max_bytes=max_bytes, max_retries=retries, pool_connections=pool_connections, pool_maxsize=pool_maxsize
        )
    session.mount("https://", adapter)
    session.mount("http://", HttpsOnlyAdapter() if https_only or pinned_sha1 is not None else adapter)
    fork_safety.close_connections_in_child(session)
    return session
