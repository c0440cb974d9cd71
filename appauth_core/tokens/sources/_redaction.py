"""Keeping a known secret out of what we say: text from outside (an endpoint's reply, an exception from the
network stack) may echo a secret we sent, and is scrubbed of it before it goes into an error message.

The marker is the connection string's (``ConnectionSettings.redacted``), so every redaction reads alike.
"""

from __future__ import annotations

from .._connection_string import REDACTED

__all__ = ["REDACTED", "redact"]


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each given secret replaced by ``<<Redacted>>``; ``None`` and empty
    secrets are skipped (an empty one would match everywhere)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
