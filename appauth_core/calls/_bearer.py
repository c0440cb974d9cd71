"""What ``RequestsTokenAuth`` and ``HttpxTokenAuth`` share: the token a request carries, and what a 401 to it
is worth. Each auth only adapts this to its library's way of sending a request again.

- The header comes from the provider's process-wide cache (``cached_access_token``: a dict lookup and a clock
  read, no request, no lock); only a miss or a token due for refresh goes through ``get_access_token``.
- A 401 is retried at most once, and only when it answered a request that carried this auth's token, whose body
  can be sent again:

  - a claims challenge (``Bearer error="insufficient_claims", claims="<base64url JSON>"``, ``_challenge``) gets
    a new token asked for with those claims (``provider.get_token(scope, claims=...)``, which the sources that
    sign in through msal send to Entra ID), whether or not the refused token came from the cache;
  - any other 401 to a token that came from the cache gets a new token (``force_refresh``): the token may have
    been revoked, or minted before a role was assigned. A token fetched for this very request is not renewed:
    another one just like it would fare no better, and a misconfigured caller would double its token requests.

- Renewals are single-flight per claims, and each first looks whether the cache already holds a token other
  than the refused one (another request renewed it meanwhile), so 32 requests refused at once cost one token
  request, as ``RenewingCredential`` does for Key Vault.

Nothing here holds a token where a repr, a log line or an error could show it: ``Sent`` hides its header.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .._internal.single_flight import SingleFlight
from ..errors import ConfigError, TokenWaitTimeoutError
from ..tokens._provider import AzureServiceTokenProvider
from ..tokens.sources._base import is_valid_resource
from ._challenge import claims_challenge
from ._default_provider import default_provider
from ._hosts import TokenHosts

logger = logging.getLogger("appauth_core")

_MAX_WARNED = 64  # origins warned about per auth (one line each, not one per request)


@dataclass(frozen=True, slots=True)
class Sent:
    """The ``Authorization`` value put on a request, and whether its token came from the cache."""

    header: str = field(repr=False)
    from_cache: bool


@dataclass(frozen=True, slots=True)
class Renewal:
    """A 401 worth one retry: the refused header, and the claims the new token must carry (None: any new one)."""

    refused: str = field(repr=False)
    claims: str | None


FETCH: Literal["fetch"] = "fetch"
"""What a flow asks its runner for when the cache has no token ready (the runner answers with a ``Sent``)."""


class BearerTokens:
    """One resource's tokens for outbound requests. ``provider`` None: the process-wide default
    (``default_provider``), made when the first request needs it. ``base_urls``: where the token may go
    (``TokenHosts``); ``owner`` names the class in errors."""

    __slots__ = ("_given", "_last", "_renewals", "_warned", "hosts", "resource", "scope")

    def __init__(
        self,
        resource: str,
        provider: AzureServiceTokenProvider | None,
        base_urls: Sequence[str],
        *,
        owner: str,
    ) -> None:
        if not isinstance(resource, str) or not resource.strip() or not is_valid_resource(resource):
            raise ConfigError(
                f"{owner}(resource=...) must be the App ID URI or resource of the API to call, e.g. "
                f"'api://orders' or 'https://management.azure.com', not {resource!r}.",
                key=f"{owner}(resource=...)",
            )
        if provider is not None and not isinstance(provider, AzureServiceTokenProvider):
            raise ConfigError(
                f"{owner}(provider=...) must be an AzureServiceTokenProvider (or None for the default one), not "
                f"{type(provider).__name__}.",
                key=f"{owner}(provider=...)",
            )
        self.resource = resource
        self.scope = resource.rstrip("/") + "/.default"
        self.hosts = TokenHosts(base_urls, setting=f"{owner}(base_url=...)")
        self._given = provider
        self._renewals: SingleFlight[str] = SingleFlight(TokenWaitTimeoutError.after)
        self._warned: set[str] = set()
        self._last: tuple[str, Sent] | None = None  # the cached token last seen, and its Sent: built once per token

    @property
    def provider(self) -> AzureServiceTokenProvider:
        return self._given or default_provider()

    def cached(self) -> Sent | None:
        """The cached token's header, if one is ready; never a request."""
        token = (self._given or default_provider()).cached_access_token(self.resource)
        if token is None:
            return None
        last = self._last
        if last is not None and last[0] is token:
            return last[1]
        sent = Sent("Bearer " + token, from_cache=True)
        self._last = (token, sent)
        return sent

    def sent_as(self, header: str | None) -> Sent | None:
        """What a request that carried ``header`` was sent with, for an auth that keeps no record per request:
        from the cache if it is the cached token this auth put on its last request, else fetched for it."""
        if header is None:
            return None
        last = self._last
        return Sent(header, from_cache=last is not None and last[1].header == header)

    def fetch(self) -> Sent:
        """A token from the provider: the cache, or (on a miss) its source."""
        return Sent("Bearer " + self.provider.get_access_token(self.resource), from_cache=False)

    def renewal(
        self, answered: str | None, www_authenticate: str | None, sent: Sent, *, replayable: bool
    ) -> Renewal | None:
        """What a 401 is worth: a ``Renewal`` (one retry) or None (the response stands). ``answered``: the
        ``Authorization`` header of the request the 401 answers (after redirects: that last request's)."""
        if answered != sent.header:
            return None  # the refusal of a request without our token (a redirect to another origin)
        claims = claims_challenge(www_authenticate)
        if claims is None and not sent.from_cache:
            return None
        if not replayable:
            logger.warning(
                "A 401 to a request for %s was not retried with a new token: its body was a stream that cannot be "
                "sent again (send bytes, or a file that can seek, to have it retried)",
                self.resource,
            )
            return None
        logger.info(
            "Retrying a request for %s once with a new token: %s",
            self.resource,
            "the API asked for claims (claims challenge)" if claims else "the API refused the cached token (401)",
        )
        return Renewal(sent.header, claims)

    def renew(self, renewal: Renewal) -> Sent:
        """A token to replace the refused one (see the module docstring); the provider's error if none."""
        token = self._renewals.run(renewal.claims or "", lambda: self._renewed(renewal))
        return Sent("Bearer " + token, from_cache=False)

    def _renewed(self, renewal: Renewal) -> str:
        provider = self.provider
        current = provider.cached_access_token(self.resource)
        if current is not None and "Bearer " + current != renewal.refused:
            return current  # renewed by a request refused just before this one
        if renewal.claims:
            return provider.get_token(self.scope, claims=renewal.claims).token
        return provider.get_access_token(self.resource, force_refresh=True)

    def refused_host(self, where: str) -> None:
        """Say once per origin why a request got no token (``where``: its origin, without user name or password)."""
        if where in self._warned or len(self._warned) >= _MAX_WARNED:
            return
        self._warned.add(where)
        logger.warning(
            "No token for %s was put on a request to %s: %s",
            self.resource,
            where,
            f"it is not one of the configured base URLs ({self.hosts})"
            if self.hosts.origins
            else "tokens go over https only (plain http only to 127.0.0.1, ::1 and localhost)",
        )


class BearerAuth:
    """What ``RequestsTokenAuth`` and ``HttpxTokenAuth`` are besides their library's flow: made from a resource,
    a provider and the base URL(s) the token may go to (one URL, several, or None: any https host), shown by
    resource and base URLs only."""

    def __init__(
        self,
        resource: str,
        provider: AzureServiceTokenProvider | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
    ) -> None:
        urls = () if base_url is None else (base_url,) if isinstance(base_url, str) else tuple(base_url)
        self._tokens = BearerTokens(resource, provider, urls, owner=type(self).__name__)

    @property
    def resource(self) -> str:
        """The App ID URI or resource the token is for."""
        return self._tokens.resource

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._tokens.resource!r}, base_url={self._tokens.hosts})"
