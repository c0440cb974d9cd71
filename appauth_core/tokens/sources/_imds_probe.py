"""Is there an IMDS at all? One cheap request, its answer remembered per process: an answer for good, no
answer until a back-off has passed (10 s doubling to 5 min), so a VM whose IMDS is slow at boot gets its
managed identity back, and a default chain off Azure moves on at once."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import requests

from ..._internal import fork_safety, http_limits
from ._managed_identity_hosts import API_VERSIONS, IMDS_TOKEN_PATH

PROBE_CONNECT_TIMEOUT = 1.0  # azure-identity's probe; .NET used 3 s for the whole probe
PROBE_READ_TIMEOUT = 3.0
# An unanswered probe is asked again after 10 s, then 20, 40 ... up to 5 minutes (azure-identity probes again
# on every call until one succeeds).
PROBE_BACKOFF_FIRST = 10.0
PROBE_BACKOFF_MAX = 300.0


@dataclass(frozen=True)
class ProbeResult:
    """What the last probe of one IMDS found: ``reason`` None when it answered (kept for good), else why
    not, ``failures`` in a row and when (on the caller's monotonic clock) to probe again."""

    reason: str | None
    failures: int = 0
    retry_at: float = 0.0


_probe_lock = threading.Lock()
_probe_results: dict[str, ProbeResult] = {}  # IMDS base URL -> the last probe's result
fork_safety.new_lock_in_child(sys.modules[__name__], "_probe_lock")  # the results stay


def reset_imds_probe_cache() -> None:
    """Forget every probe result (tests; or after the network changed under a long-lived process)."""
    with _probe_lock:
        _probe_results.clear()


def imds_probe(session: requests.Session, base_url: str, now: float) -> ProbeResult:
    """The remembered result for the IMDS at ``base_url``, probing it first when there is none or the last
    failure's back-off has passed at ``now``: one probe per base URL even when many threads ask at once."""
    with _probe_lock:
        result = _probe_results.get(base_url)
        if result is None or (result.reason is not None and now >= result.retry_at):
            failures = result.failures if result is not None else 0
            reason = _probe(session, base_url)
            retry_at = now + _backoff(failures + 1) if reason is not None else 0.0
            result = ProbeResult(reason, failures + 1 if reason is not None else 0, retry_at)
            _probe_results[base_url] = result
        return result


def _backoff(failures: int) -> float:
    return min(PROBE_BACKOFF_FIRST * float(1 << min(failures - 1, 16)), PROBE_BACKOFF_MAX)


def _probe(session: requests.Session, base_url: str) -> str | None:
    """One request, no retries, short timeouts: None when anything answers at ``base_url``, else why not.

    Sent without ``Metadata: true`` (as azure-identity does) so IMDS answers 400 at once and issues no
    token. Docker Desktop answers 403 "...unreachable network..." for link-local addresses; that is not
    an IMDS (azure-identity PRs #31824 and #33928).
    """
    url = base_url + IMDS_TOKEN_PATH
    try:
        response = session.get(
            url,
            params={"api-version": API_VERSIONS["imds"], "resource": "https://management.azure.com"},
            timeout=(PROBE_CONNECT_TIMEOUT, PROBE_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}"
    except http_limits.ReplyTooLargeError:
        return None  # something answers; the token request will say what is wrong with it
    if response.status_code == 403 and "unreachable" in response.text.lower():
        return "403 from a proxy saying the network is unreachable"
    return None
