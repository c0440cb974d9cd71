"""The provider an outbound auth uses when it is given none: one ``AzureServiceTokenProvider()`` per process
(``AzureServicesAuthConnectionString``, else the default chain), made on first use rather than at import, so
that importing appauth reads no environment and an auth built at import time costs nothing until it is used."""

from __future__ import annotations

import sys
import threading

from .._internal import fork_safety
from ..tokens._provider import AzureServiceTokenProvider

_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__])  # the provider stays: its tokens are as good in the child
_provider: AzureServiceTokenProvider | None = None


def default_provider() -> AzureServiceTokenProvider:
    """The process-wide default provider; a configuration error (a bad connection string in the environment)
    is raised to each caller until it is fixed, and nothing is kept meanwhile."""
    global _provider
    provider = _provider
    if provider is None:
        with _lock:
            if _provider is None:
                _provider = AzureServiceTokenProvider()
            provider = _provider
    return provider
