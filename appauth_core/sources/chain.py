"""Try several sources in order; the first that gives a token is remembered and used from then on.

As in .NET and azure-identity, the chain pins its first success (no surprise switch of identity later).
Unlike .NET, the error when every method fails is one message that names each method with its own
reason and what to do, instead of a concatenation of "Parameters: ..." blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .. import fork_safety
from ..errors import Attempt, AzureServiceTokenProviderError, InvalidRequestError
from .base import SourceToken, TokenRequest, TokenSource


class ChainedSource:
    name = "Default chain"

    def __init__(self, sources: Sequence[TokenSource]) -> None:
        if not sources:
            raise ValueError("a chain needs at least one source")
        self.sources = tuple(sources)
        self._selected: TokenSource | None = None
        self.skipped: tuple[Attempt, ...] = ()  # why the methods before the selected one did not work
        self._lock = threading.Lock()
        fork_safety.new_lock_in_child(self)

    @property
    def cache_identity(self) -> str:
        # Constant even after a source is selected, so the entry cached by the first call is found again.
        return "chain:" + ",".join(s.cache_identity for s in self.sources)

    @property
    def selected(self) -> TokenSource | None:
        return self._selected

    def get_token(self, request: TokenRequest) -> SourceToken:
        selected = self._selected
        if selected is not None:
            return selected.get_token(request)
        attempts: list[Attempt] = []
        for source in self.sources:
            try:
                token = source.get_token(request)
            except InvalidRequestError:
                raise  # the request itself is wrong: no other method can do better
            except AzureServiceTokenProviderError as error:
                attempts.append(Attempt(source.name, error.message))
                continue
            with self._lock:
                if self._selected is None:
                    self._selected, self.skipped = source, tuple(attempts)
            return token
        raise AzureServiceTokenProviderError(
            _summary(request, attempts), resource=request.resource, authority=request.authority, attempts=attempts
        )


def _summary(request: TokenRequest, attempts: Sequence[Attempt]) -> str:
    lines = [
        f"Could not get an access token for resource '{request.resource}' "
        f"(authority: {request.authority or request.authority_host + '<tenant of the identity>'}). "
        f"Tried {len(attempts)} method(s), none worked:"
    ]
    lines += [f"  - {attempt.method}: {attempt.reason}" for attempt in attempts]
    lines.append(
        "Sign in locally with `az login`, run in Azure with a managed identity, or set the "
        "AzureServicesAuthConnectionString environment variable (e.g. RunAs=App;AppId=...;TenantId=...;AppKey=...)."
    )
    return "\n".join(lines)
