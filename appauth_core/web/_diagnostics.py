"""``whoami``, ``token``, ``secret`` and ``check``: the diagnostics behind ``manage.py appauth ...`` and
``flask appauth ...``. One implementation; the adapters only parse arguments and colour the lines.

Expected failures become report lines and an exit code, never a traceback. Nothing secret is printed
unless the user asked for it with ``--raw`` / ``--reveal`` (then it is the report's ``raw`` payload).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import AppAuthError
from ..tokens._token_claims import fingerprint, unverified_claims
from ._services import AppAuthServices

Status = Literal["ok", "fail", "info"]
ARM = "https://management.azure.com/"
VAULT = "https://vault.azure.net"


@dataclass(frozen=True)
class Line:
    status: Status
    text: str
    error: type[AppAuthError] | None = None  # what failed, for callers choosing advice (system checks)


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    raw: str | None = None  # printed alone on stdout, for piping (a token, a revealed secret)

    @property
    def ok(self) -> bool:
        return all(line.status != "fail" for line in self.lines)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def add(self, status: Status, text: str, error: AppAuthError | None = None) -> None:
        self.lines.append(Line(status, text, type(error) if error is not None else None))

    def to_json(self) -> str:
        """The report as one JSON object (``--json``): ``ok``, ``exit_code``, ``lines`` (``status``, ``text``)
        and, only when ``--raw`` or ``--reveal`` asked for it, ``raw``."""
        data: dict[str, object] = {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "lines": [{"status": line.status, "text": line.text} for line in self.lines],
        }
        if self.raw is not None:
            data["raw"] = self.raw
        return json.dumps(data)


def whoami(services: AppAuthServices, resource: str | None = None) -> Report:
    """Who the app signs in as, by which method, and why the methods before it did not work."""
    report = Report()
    target = resource or (VAULT if services.config.key_vault_url else ARM)
    try:
        services.provider.get_access_token(target)
    except AppAuthError as error:
        report.add("fail", f"No identity: {error}")
        return report
    principal = services.principal
    method = services.provider.method_used or "unknown method"
    report.add("ok", f"Signed in via {method}")
    for attempt in services.provider.skipped_methods:
        report.add("info", f"skipped {attempt.method}: {attempt.reason}")
    if principal is not None:
        report.add("info", f"type: {principal.type}")
        for label, value in (
            ("user", principal.user_principal_name),
            ("app id", principal.app_id),
            ("object id", principal.object_id),
            ("tenant", principal.tenant_id),
        ):
            if value:
                report.add("info", f"{label}: {value}")
    return report


def token(services: AppAuthServices, resource: str, tenant_id: str | None = None, *, raw: bool = False) -> Report:
    report = Report()
    try:
        result = services.provider.get_authentication_result(resource, tenant_id)
    except AppAuthError as error:
        report.add("fail", str(error))
        return report
    claims = unverified_claims(result.access_token)
    minutes = (result.expires_on.timestamp() - time.time()) / 60
    report.add("ok", f"Token for {resource} via {services.provider.method_used or 'unknown method'}")
    report.add("info", f"expires: {result.expires_on.isoformat()} (in {minutes:.0f} min)")
    for claim in ("aud", "iss", "appid", "oid", "tid", "upn", "idtyp"):
        if claim in claims:
            report.add("info", f"{claim}: {claims[claim]}")
    report.add("info", f"token: {fingerprint(result.access_token)} (use --raw to print it)")
    if raw:
        report.raw = result.access_token
    return report


def secret(services: AppAuthServices, name: str, *, reveal: bool = False) -> Report:
    report = Report()
    try:
        metadata = services.secrets.describe(name)
        value = services.secret(name) if reveal else None
    except AppAuthError as error:
        report.add("fail", str(error))
        return report
    report.add("ok", f"Secret {name!r} in {metadata.vault_url}")
    for label in ("version", "content_type", "enabled", "created_on", "updated_on"):
        shown = getattr(metadata, label, None)
        if shown is not None:
            report.add("info", f"{label.replace('_', ' ')}: {_show(shown)}")
    if value is None:
        report.add("info", "value: hidden (use --reveal to print it)")
    else:
        report.raw = value
    return report


def check(services: AppAuthServices, references: Mapping[str, str] | None = None) -> Report:
    """Everything the configuration promises, tried for real: a token, each template secret, each
    settings reference. Exit code 1 if anything fails."""
    report = Report()
    resource = VAULT if services.config.key_vault_url else ARM
    try:
        services.provider.get_access_token(resource)
        report.add("ok", f"token for {resource} via {services.provider.method_used}")
    except AppAuthError as error:
        report.add("fail", f"token for {resource}: {error}")
        return report
    for name in sorted(services.config.template_secrets):
        try:
            services.secret(name)
            report.add("ok", f"template secret {name!r} is readable")
        except AppAuthError as error:
            report.add("fail", f"template secret {name!r}: {error}", error)
    for setting, reference in (references or {}).items():
        try:
            services.secrets.resolve(reference)
            report.add("ok", f"{setting} resolves")
        except AppAuthError as error:
            report.add("fail", f"{setting}: {error}", error)
    return report


def _show(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
