"""A loopback control API, so a test or a shell can inject faults, read counters, seed secrets and flip
switches on an emulator running in another process (``python -m appauth_core.testing``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

from ._faults import Fault, FaultInjector, RequestCounter
from ._http import Handler, Request, Response
from ._keyvault import Vault

CONTROL_KEY_HEADER = "X-Appauth-Emulator-Key"


class _Controlled(Protocol):
    """What the control API reaches of the ``AzureEmulator`` that serves it (which imports this module)."""

    faults: FaultInjector
    counters: RequestCounter
    vaults: dict[str, Vault]
    vault: Vault

    @property
    def configure(self) -> Callable[..., None]: ...


class ControlStandIn:
    def __init__(self, emulator: _Controlled) -> None:
        self._emulator = emulator
        self.key = secrets.token_urlsafe(24)

    def route(self, request: Request) -> tuple[str, Handler]:
        return "control", self._handle

    def _handle(self, request: Request) -> Response:
        presented = request.header(CONTROL_KEY_HEADER) or ""
        if not secrets.compare_digest(presented.encode(), self.key.encode()):
            return Response.json(401, {"error": f"missing or wrong {CONTROL_KEY_HEADER} header"})
        try:
            body = request.json() if request.body else {}
            return self._dispatch(request.method, request.path.rstrip("/"), body)
        except (ValueError, TypeError, KeyError) as exc:
            return Response.json(400, {"error": str(exc)})

    def _dispatch(self, method: str, path: str, body: Any) -> Response:
        emulator = self._emulator
        if path == "/faults" and method == "POST":
            fields = dict(body)
            endpoint = fields.pop("endpoint")
            emulator.faults.inject(endpoint, Fault.from_dict(fields))
            return Response.json(201, {"endpoint": endpoint})
        if path == "/faults" and method == "GET":
            return Response.json(
                200,
                [{"endpoint": e, "status": f.status, "times": f.times} for e, f in emulator.faults.pending()],
            )
        if path == "/faults" and method == "DELETE":
            emulator.faults.clear()
            return Response(204)
        if path == "/counters" and method == "GET":
            return Response.json(200, emulator.counters.snapshot())
        if path == "/counters" and method == "DELETE":
            emulator.counters.reset()
            return Response(204)
        if path == "/secrets" and method == "POST":
            vault = emulator.vaults[body.get("vault", emulator.vault.name)]
            secret = vault.set_secret(body["name"], body["value"], content_type=body.get("contentType"))
            return Response.json(201, {"name": secret.name, "version": secret.version})
        if path == "/settings" and method == "POST":
            emulator.configure(**body)
            return Response(204)
        return Response.json(404, {"error": f"no control route {method} {path}"})
