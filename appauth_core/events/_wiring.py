"""Putting one app's rotation events together from its ``EventsSettings``: the token check, the replay memory,
the invalidation channel and the webhook. ``AppAuthServices`` builds it once per app, at startup (no I/O)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from ..keyvault import KeyVaultSecrets, RedisSecretCache, SharedSecretCache
from ..keyvault._invalidation import CacheEpochChannel, Channel, RedisChannel, SecretInvalidation
from ._dispatch import Dispatcher
from ._endpoint import WebhookEndpoint
from ._handshake import Answer
from ._replay import SeenEvents
from ._settings import EventsSettings

CHANNEL = "invalidations"  # after the RedisSecretCache's prefix ("appauth:" by default)
EPOCH_KEY = "events:epoch"


class Validator(Protocol):
    """What the webhook needs of ``TokenValidator``."""

    def validate(self, token: str, *, roles: Any = ..., scopes: Any = ...) -> Any: ...


class RotationEvents:
    """``endpoint`` (the webhook) and ``invalidation`` (how a rotation reaches every process) of one app."""

    def __init__(
        self,
        settings: EventsSettings,
        secrets: KeyVaultSecrets,
        shared: SharedSecretCache | None = None,
        *,
        validator: Validator | None = None,
    ) -> None:
        """``shared``: the app's shared cache engine (``RedisSecretCache``, a framework cache's adapter), for
        the replay memory and, without ``settings.redis``, the channel. ``validator``: default a
        ``TokenValidator`` for ``settings``' audience, tenant and allowed clients."""
        self.settings = settings
        self.channel = channel_for(settings, shared)
        self.invalidation = SecretInvalidation(secrets, self.channel)
        self._validator = validator if validator is not None else _token_validator(settings)
        self.endpoint = WebhookEndpoint(
            authenticate=self._authenticate,
            refusal=_refusal,
            dispatcher=Dispatcher(self.invalidation, SeenEvents(settings.audience, shared), settings.near_expiry_hook),
            allowed_origins=settings.allowed_origins,
            serving=settings.endpoint,
        )

    def __repr__(self) -> str:
        return f"RotationEvents(audience={self.settings.audience!r}, channel={self.channel!r})"

    def handle_delivery(self, method: str, headers: Any, body: bytes) -> Answer:
        """``WebhookEndpoint.handle_delivery``: what the adapters call."""
        return self.endpoint.handle_delivery(method, headers, body)

    def close(self) -> None:
        self.invalidation.close()

    def _authenticate(self, authorization: str | None) -> Any:
        from ..validation import bearer_token

        return self._validator.validate(bearer_token(authorization), roles=self.settings.required_roles)


def channel_for(settings: EventsSettings, shared: SharedSecretCache | None) -> Channel | None:
    """Redis pub/sub when there is a Redis (``settings.redis``, or the ``RedisSecretCache``'s client), the
    shared cache's epoch when there is only a shared cache, else None (only the receiving process forgets)."""
    engine = getattr(shared, "cache", shared)  # a RedisSecretCache the Flask adapter wrapped (ObjectCacheAdapter)
    prefix = engine.prefix if isinstance(engine, RedisSecretCache) else "appauth:"
    if settings.redis is not None:
        return RedisChannel(settings.redis, prefix + CHANNEL)
    if isinstance(engine, RedisSecretCache):
        return RedisChannel(engine.client, prefix + CHANNEL)
    if shared is not None:
        return CacheEpochChannel(shared, EPOCH_KEY)
    return None


def _token_validator(settings: EventsSettings) -> Validator:
    from ..validation import TokenValidator

    validator: Validator = TokenValidator(
        settings.audience,
        tenant_id=settings.tenant_id,
        allowed_client_ids=settings.allowed_client_ids,
        authority=settings.authority,
    )
    return validator


def _refusal(exc: Exception) -> Answer | None:
    from ..validation import TokenValidationError, error_response

    if not isinstance(exc, TokenValidationError):
        return None
    status, headers, body = error_response(exc)
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()
