"""``python manage.py appauth whoami | token --resource R [--tenant T] [--raw] | secret NAME [--reveal] | check``,
each with ``--json``, and Django's common options (``--settings``, ``-v``, ``--traceback`` ...) before or
after the subcommand.

Argument parsing and colour only: the diagnostics are ``appauth_core.web.diagnostics``, shared with
``flask appauth``. Expected failures arrive as report lines and a non-zero exit code, never a traceback.
A token or a revealed secret is printed alone on stdout (the report then goes to stderr), so that
``TOKEN=$(python manage.py appauth token --resource ... --raw)`` works as with ``az account get-access-token``;
``--json`` prints the report as one JSON object on stdout instead (with the token or value only when asked).
"""

from __future__ import annotations

from argparse import SUPPRESS, ArgumentParser
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped]

from appauth_core import AppAuthServices
from appauth_core.web import Line, Report, diagnostics

from ..._sensitive import hide_locals
from ...checks import STARTUP_FAILURES, check_settings
from ...conf import get_services
from ...resolution import configured_references


class Command(BaseCommand):  # type: ignore[misc]
    help = "Which Azure identity the app uses, its tokens and its Key Vault secrets."
    # The command diagnoses the configuration itself (``check``); Django's checks would stop it before
    # it could say more than they do.
    requires_system_checks: ClassVar[list[str]] = []

    def add_base_argument(self, parser: ArgumentParser, *args: Any, **kwargs: Any) -> None:
        """Django's common options, also kept to be given to each subcommand (``add_arguments``)."""
        if not hasattr(self, "_common_options"):
            self._common_options: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._common_options.append((args, kwargs))
        super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="{whoami,token,secret,check}")
        whoami = commands.add_parser(
            "whoami", help="Who the app signs in as, by which method, and why others were skipped."
        )
        token = commands.add_parser("token", help="Get a token and show its claims and expiry.")
        token.add_argument("--resource", required=True, help="e.g. https://management.azure.com/")
        token.add_argument("--tenant", default=None, help="A tenant other than the identity's home tenant.")
        token.add_argument("--raw", action="store_true", help="Print the token itself on stdout.")
        secret = commands.add_parser("secret", help="Show a Key Vault secret's metadata.")
        secret.add_argument("name")
        secret.add_argument("--reveal", action="store_true", help="Print the secret's value on stdout.")
        check = commands.add_parser("check", help="Try everything configured; exit 1 on any failure.")
        for subcommand in (whoami, token, secret, check):
            subcommand.add_argument("--json", action="store_true", help="Print the report as JSON on stdout.")
            self._add_common_options(subcommand)

    def _add_common_options(self, subcommand: ArgumentParser) -> None:
        """Django's common options after the subcommand too (``appauth check --settings=... -v 2``). They
        default to "not given", so that one given before the subcommand is not overwritten by a default."""
        for args, kwargs in getattr(self, "_common_options", ()):
            if kwargs.get("action") != "version":
                subcommand.add_argument(*args, **{**kwargs, "default": SUPPRESS})

    @hide_locals
    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        self._json = bool(options.get("json"))
        if action == "check":
            report = self._check()
        else:
            services = self._services()
            if action == "whoami":
                report = diagnostics.whoami(services)
            elif action == "token":
                report = diagnostics.token(services, options["resource"], options["tenant"], raw=options["raw"])
            else:
                report = diagnostics.secret(services, options["name"], reveal=options["reveal"])
        self._finish(report)

    def _services(self) -> AppAuthServices:
        try:
            return get_services()
        except ImproperlyConfigured as error:
            message = str(error)
        raise CommandError(message)

    def _check(self) -> Report:
        """The configuration checks first (as report lines), then ``diagnostics.check``."""
        report = Report()
        for message in check_settings():
            if message.id in STARTUP_FAILURES:  # diagnostics.check reads each reference again, below
                continue
            report.add("fail" if message.is_serious() else "info", f"{message.id}: {message.msg}")
        if not report.ok:
            return report
        tried = diagnostics.check(self._services(), configured_references())
        report.lines.extend(tried.lines)
        return report

    @hide_locals
    def _finish(self, report: Report) -> None:
        if self._json:
            self.stdout.write(report.to_json())
            if report.exit_code:
                raise CommandError("appauth: see the report", returncode=report.exit_code)
            return
        to_stderr = report.raw is not None
        for line in report.lines:
            stream = self.stderr if to_stderr or line.status == "fail" else self.stdout
            stream.write(self._render(line), style_func=str)  # stderr would paint every line red
        if report.raw is not None:
            self.stdout.write(report.raw)
        if report.exit_code:
            raise CommandError("appauth: see the failures above", returncode=report.exit_code)

    def _render(self, line: Line) -> str:
        if line.status == "ok":
            return f"{self.style.SUCCESS('[ok]  ')} {line.text}"
        if line.status == "fail":
            return f"{self.style.ERROR('[fail]')} {line.text}"
        return f"       {line.text}"
