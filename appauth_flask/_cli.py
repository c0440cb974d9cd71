"""``flask appauth whoami | token | secret | check`` (each with ``--json``): argument parsing and colour only;
the diagnostics themselves are ``appauth_core.web.diagnostics``, shared with ``manage.py appauth``.

Expected failures arrive as report lines and an exit code, so the user sees a sentence, not a traceback.
A token or a revealed secret is printed alone on stdout (the report goes to stderr) so it can be piped.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from appauth_core import AppAuthServices
from appauth_core.web import Line, Report, diagnostics

from ._references import find_config_references
from ._startup import unread_note
from ._state import references_for, services_for

appauth_cli = AppGroup("appauth", help="Check which Azure identity the app uses, its tokens and its secrets.")

_MARKS = {"ok": click.style("[ok]  ", fg="green"), "fail": click.style("[fail]", fg="red", bold=True)}


JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")


@appauth_cli.command()
@JSON
def whoami(as_json: bool) -> None:
    """Who the app signs in as, by which method, and why earlier methods were skipped."""
    _finish(diagnostics.whoami(_services()), as_json=as_json)


@appauth_cli.command()
@click.option("--resource", required=True, help="The resource (audience), e.g. https://management.azure.com/")
@click.option("--tenant", default=None, help="A tenant ID other than the identity's home tenant.")
@click.option("--raw", is_flag=True, help="Print the token itself on stdout (it is a credential).")
@JSON
def token(resource: str, tenant: str | None, raw: bool, as_json: bool) -> None:
    """Get an access token and show its claims (the token itself only with --raw)."""
    _finish(diagnostics.token(_services(), resource, tenant, raw=raw), as_json=as_json)


@appauth_cli.command()
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print the secret's value on stdout.")
@JSON
def secret(name: str, reveal: bool, as_json: bool) -> None:
    """Show a Key Vault secret's metadata (its value only with --reveal)."""
    _finish(diagnostics.secret(_services(), name, reveal=reveal), as_json=as_json)


@appauth_cli.command()
@JSON
def check(as_json: bool) -> None:
    """Try everything the configuration promises: a token, each template secret, each reference."""
    references = {**references_for(current_app), **find_config_references(current_app)}
    _finish(diagnostics.check(_services(), references), as_json=as_json, note=False)  # it tries each reference


def _services() -> AppAuthServices:
    return services_for(current_app)


def _finish(report: Report, *, as_json: bool, note: bool = True) -> None:
    unread = unread_note(current_app) if note else None
    if unread is not None:
        report.add("info", unread)
    if as_json:
        click.echo(report.to_json())
        click.get_current_context().exit(report.exit_code)
    for line in report.lines:
        click.echo(_render(line), err=report.raw is not None or line.status == "fail")
    if report.raw is not None:
        click.echo(report.raw)
    click.get_current_context().exit(report.exit_code)


def _render(line: Line) -> str:
    mark = _MARKS.get(line.status)
    return f"{mark} {line.text}" if mark else f"       {line.text}"
