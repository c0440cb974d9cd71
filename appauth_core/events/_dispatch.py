"""What the events of a delivery do: which cached secrets they invalidate, which reach the near-expiry hook,
and which are only acknowledged.

- ``SecretNewVersionCreated`` and ``SecretExpired`` for a vault this app reads drop the secret's latest value
  everywhere (``SecretInvalidation.invalidate``); a pinned version never changes and stays cached.
- ``SecretNearExpiry`` for such a vault calls the app's hook, once per event in the fleet (in the process that
  received it), with the ``SecretChange``; a hook that raises is logged and the event still acknowledged, so
  that a broken hook does not make Event Grid deliver the event again and again.
- Every other event (another vault, keys, certificates, access policies, the subscription being deleted) is
  acknowledged and ignored, and so is an event already acted on or too old to be told from a replay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..keyvault._invalidation import SecretInvalidation
from ._replay import SeenEvents
from ._schema import SECRET_EXPIRED, SECRET_NEAR_EXPIRY, SECRET_NEW_VERSION, Event

logger = logging.getLogger("appauth_core")


@dataclass
class Outcome:
    """Counts for the response body and the log line (never a value: names only)."""

    invalidated: int = 0
    hooked: int = 0
    ignored: int = 0
    replayed: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "invalidated": self.invalidated,
            "hooked": self.hooked,
            "ignored": self.ignored,
            "replayed": self.replayed,
        }


class Dispatcher:
    """Acts on events; ``invalidation`` None means this app has no Key Vault secrets to invalidate."""

    def __init__(
        self,
        invalidation: SecretInvalidation | None,
        seen: SeenEvents,
        near_expiry_hook: Callable[..., Any] | None = None,
    ) -> None:
        self._invalidation = invalidation
        self._seen = seen
        self._hook = near_expiry_hook

    def dispatch(self, events: Sequence[Event]) -> Outcome:
        """Act on each event not seen before, claiming it first (``SeenEvents.claim``: one worker of the fleet
        acts on it); ``InvalidationNotShared`` stops at the event that could not be shared (the ones before it
        are done, its claim is released so that the redelivery is acted on, the ones after are not claimed)."""
        outcome = Outcome()
        for event in events:
            if self._seen.too_old(event.time) or not self._seen.claim(event.id):
                outcome.replayed += 1
                continue
            try:
                self._act(event, outcome)
            except BaseException:
                self._seen.release(event.id)
                raise
        return outcome

    def _act(self, event: Event, outcome: Outcome) -> None:
        change, invalidation = event.secret, self._invalidation
        vault = invalidation.vault_for(change.vault_name, change.origin) if change and invalidation else None
        if change is None or invalidation is None or vault is None:
            outcome.ignored += 1
            return
        if event.type in (SECRET_NEW_VERSION, SECRET_EXPIRED):
            held = invalidation.invalidate(vault, change.name)
            outcome.invalidated += 1
            logger.info(
                "Key Vault event %s: the secret %r of %s invalidated (%s)",
                event.type.rsplit(".", 1)[-1],
                change.name,
                vault.url,
                "it was cached" if held else "it was not cached",
            )
        elif event.type == SECRET_NEAR_EXPIRY and self._hook is not None:
            try:
                self._hook(change)
            except Exception:
                logger.exception("The near-expiry hook failed for the secret %r of %s", change.name, vault.url)
            outcome.hooked += 1
        else:
            outcome.ignored += 1
