"""Try several sources in order; the first that gives a token is remembered and used from then on.

Only ``SourceUnavailableError`` ("this method cannot work here") moves on to the next source. A source
that is there but fails (a managed identity answering 403, an Azure CLI that Entra ID refused) ends the
call with an error naming every method tried, and nothing is remembered: the next call starts again from
the first source. So a managed identity the environment announces is never traded for another identity
(a developer's sign-in) because it failed once; azure-identity's DefaultAzureCredential stops the same way
at a credential that is configured but failing (``CredentialUnavailableError`` alone moves it on).

As in .NET and azure-identity, the chain pins its first success (no surprise switch of identity later),
with one exception: a source skipped only for now (``retry_after`` set: an IMDS that did not answer its
probe, as at VM boot) is asked again before the pinned one on later calls, and takes over for good when
it answers; otherwise one slow probe would hand a VM's app to whatever sign-in came next, for the life of
the process. Unlike .NET, the error when every method fails is one message that names each method with
its own reason and what to do, instead of a concatenation of "Parameters: ..." blocks, then the methods that
cannot apply on this operating system in one line (``not_here``), then how to configure one (``advice``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence

from ..._internal import fork_safety
from ...errors import Attempt, AzureServiceTokenProviderError, InvalidRequestError, SourceUnavailableError
from ._base import SourceToken, TokenRequest, TokenSource

logger = logging.getLogger("appauth_core")


DEFAULT_ADVICE = (
    "Sign in locally with `az login`, run in Azure with a managed identity, or set the "
    "AzureServicesAuthConnectionString environment variable (e.g. RunAs=App;AppId=...;TenantId=...;AppKey=...)."
)


class ChainedSource:
    """The sources in the order they are tried; ``selected`` is the one pinned, ``skipped`` why the ones
    before it did not work. ``not_here``: one line naming the methods left out on this operating system;
    ``advice``: the last line of the error when no method works."""

    name = "Default chain"

    def __init__(
        self, sources: Sequence[TokenSource], *, not_here: str | None = None, advice: str = DEFAULT_ADVICE
    ) -> None:
        if not sources:
            raise ValueError("a chain needs at least one source")
        self.sources = tuple(sources)
        self.not_here = not_here
        self.advice = advice
        self._selected: TokenSource | None = None
        self._ask_first: tuple[TokenSource, ...] = ()  # skipped for now: asked again before the selected one
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
        selected, ask_first = self._selected, self._ask_first
        if selected is not None and not ask_first:
            return selected.get_token(request)
        attempts: list[Attempt] = []
        not_yet: list[TokenSource] = []
        for source in ask_first if selected is not None else self.sources:
            try:
                token = source.get_token(request)
            except InvalidRequestError:
                raise  # the request itself is wrong: no other method can do better
            except SourceUnavailableError as error:
                attempts.append(Attempt(source.name, error.message))
                if error.retry_after is not None:
                    not_yet.append(source)
                continue
            except AzureServiceTokenProviderError as error:
                attempts.append(Attempt(source.name, error.message))
                raise _stopped(error, request, attempts) from error
            self._select(source, attempts, not_yet)
            return token
        if selected is None:
            raise AzureServiceTokenProviderError(
                self._summary(request, attempts),
                resource=request.resource,
                authority=request.authority,
                attempts=attempts,
            )
        token = selected.get_token(request)  # the sources asked again are still not there
        with self._lock:
            if self._selected is selected:
                self._ask_first = tuple(not_yet)
        return token

    def _summary(self, request: TokenRequest, attempts: Sequence[Attempt]) -> str:
        lines = [
            f"Could not get an access token for resource '{request.resource}' "
            f"(authority: {request.authority or request.authority_host + '<tenant of the identity>'}). "
            f"Tried {len(attempts)} method(s), none worked:"
        ]
        lines += [f"  - {attempt.method}: {attempt.reason}" for attempt in attempts]
        if self.not_here:
            lines.append(f"  - {self.not_here}")
        lines.append(self.advice)
        return "\n".join(lines)

    def _select(self, source: TokenSource, attempts: Sequence[Attempt], not_yet: Sequence[TokenSource]) -> None:
        """Pin ``source`` unless a source earlier in the chain was pinned meanwhile (by another thread)."""
        with self._lock:
            previous = self._selected
            if previous is not None and self.sources.index(previous) <= self.sources.index(source):
                return
            if previous is not None:
                logger.warning("%s answers now and is used from now on instead of %s", source.name, previous.name)
            self._selected, self.skipped, self._ask_first = source, tuple(attempts), tuple(not_yet)


def _stopped(
    error: AzureServiceTokenProviderError, request: TokenRequest, attempts: Sequence[Attempt]
) -> AzureServiceTokenProviderError:
    """The failing source's own error (its type and fields kept), its message now naming every method
    tried and saying why the chain did not go on."""
    lines = [
        f"Could not get an access token for resource '{request.resource}' "
        f"(authority: {request.authority or request.authority_host + '<tenant of the identity>'}). "
        f"{attempts[-1].method} is there but failed, so no other method was tried (an app must not silently "
        "switch to another identity); the next call tries it again. Tried:"
    ]
    lines += [f"  - {attempt.method}: {attempt.reason}" for attempt in attempts]
    stopped = copy.copy(error)  # subclasses may take other constructor arguments
    stopped.message = "\n".join(lines)
    stopped.args, stopped.attempts = (stopped.message,), tuple(attempts)
    stopped.resource, stopped.authority = request.resource, error.authority or request.authority
    return stopped
