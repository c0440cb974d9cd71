"""One TLS context per CA bundle for our HTTPS connections, instead of one per connection.

requests hands urllib3 the path of the CA bundle (``REQUESTS_CA_BUNDLE``, ``verify=...``, else certifi's),
and urllib3 builds a new ``SSLContext`` and parses that whole file for every new connection: milliseconds of
CPU for certifi's 150 certificates, tens for a corporate bundle, under the GIL. At start-up,
``KeyVaultSecrets`` opens up to 64 connections at once to read the settings' references; with a 200 KiB
bundle that parsing tripled the time of a cold ``resolve_all`` (BENCHMARKS.md, the start-up benchmark).

``SharedTrustAdapter`` parses each bundle once, into a context made by urllib3's own
``create_urllib3_context`` (so urllib3 still verifies the chain and the host name exactly as before), and
hands that context to every connection. A bundle that changes on disk (a rotated corporate CA) is parsed
again; the file is looked at once a second at most, not on every request. Connections with a client
certificate keep urllib3's per-connection context, since loading the certificate would change a shared one.
requests documents this override (``build_connection_pool_key_attributes``: "to use a custom SSLContext,
set ssl_context and alter the other keys"); no library offers it.

A bundle that cannot be read (``REQUESTS_CA_BUNDLE`` naming a file that was moved, or one that holds no
certificate) is ``CaBundleError``, raised before anything is sent and naming the variable that points at it;
requests and urllib3 would raise a bare ``OSError`` that says neither.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import DEFAULT_CA_BUNDLE_PATH, HTTPAdapter
from urllib3.util.ssl_ import create_urllib3_context

from ..errors import CaBundleError
from . import fork_safety

_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__])  # the contexts stay: a parsed bundle is as good in the child
# path -> (its mtime and size, when they were last looked at, the context)
_contexts: dict[str, tuple[tuple[int, int], float, ssl.SSLContext]] = {}
RECHECK_SECONDS = 1.0  # a bundle is looked at on disk at most this often (each request asks for its context)


def trust_context(location: str) -> ssl.SSLContext:
    """The context trusting the bundle file or certificate folder at ``location``, parsed once per version."""
    cached = _contexts.get(location)
    now = time.monotonic()
    if cached is not None and now - cached[1] < RECHECK_SECONDS:
        return cached[2]
    info = os.stat(location)
    version = (info.st_mtime_ns, info.st_size)
    with _lock:
        cached = _contexts.get(location)
        if cached is None or cached[0] != version:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            if os.path.isdir(location):
                context.load_verify_locations(capath=location)
            else:
                context.load_verify_locations(cafile=location)
        else:
            context = cached[2]
        _contexts[location] = (version, now, context)
        return context


class SharedTrustAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose HTTPS connections share one context per CA bundle (see the module docstring)."""

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> Any:
        host_params: Any
        pool_kwargs: Any
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https" and verify is not False and cert is None:
            location = (
                pool_kwargs.pop("ca_certs", None) or pool_kwargs.pop("ca_cert_dir", None) or DEFAULT_CA_BUNDLE_PATH
            )
            try:
                pool_kwargs["ssl_context"] = trust_context(location)
            except OSError as exc:  # ssl.SSLError is one: a file that holds no certificate
                origin = f"https://{host_params.get('host')}:{host_params.get('port')}"
                raise unreadable_bundle(location, exc, origin) from None
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: str | tuple[str, str] | None) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]  # untyped in the stubs
        context = getattr(conn, "conn_kw", {}).get("ssl_context")
        if context is not None and _is_shared(context) and conn.cert_reqs == "CERT_REQUIRED":
            # The bundle is in the shared context already; with a path here urllib3 would parse it again.
            conn.ca_certs = None
            conn.ca_cert_dir = None


def _is_shared(context: ssl.SSLContext) -> bool:
    return any(cached is context for _, _, cached in list(_contexts.values()))


HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH: a certificate for another host
CERT_HAS_EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""What requests reads for its CA bundle, in its order (``Session.merge_environment_settings``)."""


def bundle_variable(location: str) -> str | None:
    """The environment variable that named ``location`` as the CA bundle, if one did."""
    return next((name for name in CA_BUNDLE_VARIABLES if os.environ.get(name) == location), None)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: azure-core's ``inner_exception``, the exception chain, urllib3's
    ``MaxRetryError.reason`` and exceptions passed as arguments (requests wraps urllib3's that way)."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "inner_exception", None), getattr(current, "reason", None)]
        wrapped += [current.__cause__, current.__context__, *current.args]
        pending += [item for item in wrapped if isinstance(item, BaseException)]


def ca_bundle_advice(certificate_of: str) -> tuple[str, str]:
    """What to do about a certificate of ``certificate_of`` (e.g. "the vault") that the CA bundle in use does
    not trust, naming that bundle and what chose it; and the variable to change."""
    variable = bundle_variable(os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or "")
    if variable is not None:
        advice = (
            f"The CA bundle in use is {os.environ[variable]} ({variable}): add the certificate authority that issued "
            f"{certificate_of}'s certificate to it, or point {variable} at a bundle that has it"
        )
    else:
        advice = (
            f"The CA bundle in use is certifi's ({DEFAULT_CA_BUNDLE_PATH}): point REQUESTS_CA_BUNDLE at a bundle that "
            f"also holds the certificate authority that issued {certificate_of}'s certificate"
        )
    return f"{advice} (behind a proxy that inspects TLS, that proxy's CA)", variable or "REQUESTS_CA_BUNDLE"


def unreadable_bundle(location: str, exc: OSError, origin: str) -> CaBundleError:
    """Why the bundle at ``location`` could not be used for a request to ``origin``, naming what pointed at it."""
    if isinstance(exc, FileNotFoundError):
        problem = "does not exist"
    elif isinstance(exc, ssl.SSLError):
        problem = f"holds no CA certificate that can be read ({exc.reason or exc})"
    else:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    variable = bundle_variable(location)
    sent = f"nothing was sent to {origin}"
    if variable is not None:
        message = (
            f"{variable} names the CA bundle {location!r}, which {problem}: {sent}. Point {variable} at the PEM file "
            "(or folder) of the certificate authorities this app trusts, or unset it to use certifi's bundle."
        )
    elif location == DEFAULT_CA_BUNDLE_PATH:
        message = (
            f"certifi's CA bundle {location!r} {problem}: {sent}. Reinstall certifi (pip install --force-reinstall "
            "certifi), or point REQUESTS_CA_BUNDLE at a CA bundle."
        )
    else:
        message = (
            f"The CA bundle this request was told to trust, {location!r}, {problem}: {sent}. Pass the PEM file (or "
            "folder) of the certificate authorities to trust (requests' verify=, azure-core's connection_verify=)."
        )
    return CaBundleError(message, setting=variable, path=location)
