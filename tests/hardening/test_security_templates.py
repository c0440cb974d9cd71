"""Security, one class (issue 14, finding 5): what appauth puts in a template's context reaches nothing secret.

``request.appauth`` (Django) and ``g.appauth`` (Flask) are in every template's context: Django's stock
``request`` context processor puts the request there, Flask puts ``g`` there. A table of hostile template
expressions, written as someone who can edit a template (or paste one from a tutorial) would, is rendered
through four real engines inside a real request, after the view has fetched tokens and a secret (so the
caches hold them): Django's template language, Django's Jinja2 backend, Flask's Jinja and Flask with Jinja's
``SandboxedEnvironment``. Planted: the ``AppKey`` of the connection string, the shared cache's encryption key,
a vault secret that is not in ``TEMPLATE_SECRETS``, and the access tokens the view obtained. None may appear
in any rendered page or in the text of any rendering error.

What each engine is held to, as it really is:

- Django's template language refuses names that start with ``_`` and never calls a method marked
  ``alters_data``: every expression in the table, calls included, renders nothing secret.
- Jinja outside a sandbox is Python: ``g.appauth.secret("x")`` calls the method and ``__globals__`` reaches
  every module (Flask's own ``{{ config.SECRET_KEY }}`` is there in every template). The README says so:
  Jinja templates are trusted code. What is held there is that no attribute walk (private ``_x`` names
  included, dunder names aside) reaches the configuration, the provider, the vault client or a secret.
- Jinja's sandbox refuses ``_x`` names and methods marked ``alters_data``: there, calls and dunder walks
  are in the table too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.http import HttpRequest, JsonResponse
from django.template import engines
from django.urls import path

import tests.django.conftest  # noqa: F401 - configures Django (as collecting tests/django does)
from appauth_core.testing import AzureEmulator
from appauth_core.web import AppAuthConfig
from tests.canaries import Canaries

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
ARM = "https://management.azure.com"
RESOURCES = (VAULT, STORAGE, ARM)
PRIVATE = "private-thing"  # in the vault, not in TEMPLATE_SECRETS
BANNER, BANNER_VALUE = "public-banner", "Maintenance on Sunday"
A = "@@"  # where the facade is: request.appauth (Django) or g.appauth (Flask)

# Attribute walks every engine can write: the configuration, the provider, the vault client, the methods.
WALKS = [
    "{{ @@ }}",
    "{{ @@.config }}",
    "{{ @@.config.connection_string }}",
    "{{ @@.config.cache_encryption_key }}",
    "{{ @@.config.template_secrets }}",
    "{{ @@.provider }}",
    "{{ @@.provider.connection_string }}",
    "{{ @@.provider.principal_used }}",
    "{{ @@.secrets }}",
    "{{ @@.services }}",
    "{{ @@.services.config.connection_string }}",
    "{{ @@.services.provider }}",
    "{{ @@.secret }}",
    "{{ @@.secret_async }}",
    "{{ @@.get_access_token }}",
    "{{ @@.get_access_token_async }}",
    "{{ @@.template_secret }}",
    "{{ @@.principal }}",
    "{{ @@.principal.from_token }}",
]
# Django's template language: filters, tags, and the names it must refuse.
DJANGO_ONLY = [
    "{{ @@|pprint }}",
    "{{ @@.secret|default:'-' }}",
    "{{ @@.get_access_token|stringformat:'r' }}",
    "{% with s=@@.secret %}{{ s }}{% endwith %}",
    "{% for item in @@ %}{{ item }}{% endfor %}",
    "{{ @@._wrapped }}",
    "{{ @@._wrapped.config.connection_string }}",
    "{{ @@.__class__ }}",
    "{% debug %}",
    f'{{% load appauth %}}{{% keyvault_secret "{PRIVATE}" %}}',
    "{% load appauth %}{% keyvault_secret name %}",
    f'{{% load appauth %}}{{% keyvault_secret "{PRIVATE}" as s %}}{{{{ s }}}}',
]
# Jinja, sandboxed or not: private names (Jinja reads them), filters, item access, the lazy object's insides.
JINJA = [
    "{{ @@|pprint }}",
    "{{ @@|attr('config') }}",
    "{{ (@@|attr('config')).connection_string }}",
    "{{ @@['config'] }}",
    "{{ @@._config }}",
    "{{ @@._services }}",
    "{{ @@._services.config.connection_string }}",
    "{{ @@._backend }}",
    "{{ @@._provider }}",
    "{{ @@._secrets }}",
    "{{ @@._wrapped }}",
    "{{ @@._wrapped.config.connection_string }}",
    "{{ @@._setupfunc }}",
    "{{ @@._setupfunc().config.connection_string }}",
    "{{ @@._setupfunc()._services.config.connection_string }}",
    "{{ @@.secret.alters_data }}",
]
FLASK_ONLY = [
    "{% for name in g %}{{ name }}={{ g[name] }};{% endfor %}",
    "{{ g.get('appauth') }}",
    f"{{{{ keyvault_secret('{PRIVATE}') }}}}",
    "{{ keyvault_secret(name) }}",
]
# Only in the sandbox: outside it, calling a method or walking dunder names is running Python (trusted code).
SANDBOX_ONLY = [
    f"{{{{ @@.secret('{PRIVATE}') }}}}",
    "{{ @@.secret(name) }}",
    f"{{{{ @@.secret_async('{PRIVATE}') }}}}",
    f"{{{{ @@.get_access_token('{VAULT}') }}}}",
    f"{{{{ @@.get_access_token_async('{STORAGE}') }}}}",
    f"{{{{ @@.template_secret('{PRIVATE}') }}}}",
    "{{ @@.__class__.__init__.__globals__ }}",
    "{{ @@.secret.__self__ }}",
    "{{ @@.secret.__func__.__globals__ }}",
    "{{ @@.__reduce_ex__(2) }}",
    "{{ @@.principal.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__.os }}",
]

# The supported path, rendered among the others: it must still show an allowed secret.
SUPPORTED = {
    "django": f'{{% load appauth %}}{{% keyvault_secret "{BANNER}" %}}',
    "flask": f"{{{{ keyvault_secret('{BANNER}') }}}}",
    "flask-sandboxed": f"{{{{ keyvault_secret('{BANNER}') }}}}",
}


def private_names() -> set[str]:
    """Every name on the objects that must stay private (the services, the configuration, the provider, the
    vault client), as attributes a template could try on the facade."""
    from appauth_core import AppAuthServices, AzureServiceTokenProvider, KeyVaultSecrets

    names = {name for kind in (AppAuthServices, AzureServiceTokenProvider, KeyVaultSecrets) for name in dir(kind)}
    names |= {field.name for field in fields(AppAuthConfig)}
    return {name for name in names if not name.startswith("__")}


def reachable_walks(facade: Any, *, private: bool) -> Iterator[str]:
    """``{{ @@.a }}`` and ``{{ @@.a.b }}`` for every attribute ``a`` of the facade as the view sees it and every
    attribute ``b`` of what ``a`` is: what a template can walk to, two steps deep."""
    for name in _names(facade, private):
        yield f"{{{{ @@.{name} }}}}"
        try:
            value = getattr(facade, name)
        except Exception:  # noqa: S112 - an attribute that raises is not a way in
            continue
        for inner in _names(value, private):
            yield f"{{{{ @@.{name}.{inner} }}}}"


def _names(value: Any, private: bool) -> list[str]:
    return sorted(n for n in dir(value) if not n.startswith("__") and (private or not n.startswith("_")))


def table(engine: str, facade: Any) -> list[str]:
    """The hostile expressions for ``engine``, with the facade's place filled in."""
    jinja = engine != "django"
    expressions = [*WALKS, *(JINJA if jinja else DJANGO_ONLY)]
    expressions += [f"{{{{ @@.{name} }}}}" for name in sorted(private_names()) if jinja or not name.startswith("_")]
    expressions += reachable_walks(facade, private=jinja)
    if engine.startswith("flask"):
        expressions += FLASK_ONLY
    if engine == "flask-sandboxed":
        expressions += SANDBOX_ONLY
    if engine in SUPPORTED:
        expressions.append(SUPPORTED[engine])
    return list(dict.fromkeys(expression.replace(A, facade_path(engine)) for expression in expressions))


def facade_path(engine: str) -> str:
    return "g.appauth" if engine.startswith("flask") else "request.appauth"


def render_each(expressions: Iterable[str], render: Callable[[str], str]) -> list[tuple[str, str]]:
    """(expression, what it rendered) for each one; a rendering error counts by its type and text."""
    outcomes = []
    for expression in expressions:
        try:
            outcomes.append((expression, render(expression)))
        except Exception as error:  # the engine refused: its message is what a page or a log shows
            outcomes.append((expression, f"{type(error).__name__}: {error}"))
    return outcomes


def before_the_template(appauth: Any) -> None:
    """What a view does first: tokens and the private secret are then in appauth's caches."""
    for resource in RESOURCES:
        appauth.get_access_token(resource)
    assert appauth.secret(PRIVATE).startswith("Canary")


# --- Django: a view rendering the table through the engine named in the query string ------------------


def django_table(request: HttpRequest) -> JsonResponse:
    before_the_template(request.appauth)
    engine = request.GET["engine"]
    backend = engines[engine]
    outcomes = render_each(
        table(engine, request.appauth),
        lambda text: backend.from_string(text).render({"name": PRIVATE}, request),
    )
    return JsonResponse({"outcomes": outcomes})


urlpatterns = [path("table", django_table)]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "NAME": "django",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
    {"BACKEND": "django.template.backends.jinja2.Jinja2", "NAME": "django-jinja2", "APP_DIRS": False},
]


@pytest.fixture
def planted(canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> dict[str, str]:
    """The secrets to look for, and the settings both frameworks are given (a service principal, so the AppKey
    is in the configuration; a shared cache, so an encryption key is)."""
    azure_emulator.vault.set_secret(PRIVATE, canaries.new("private vault secret"))
    azure_emulator.vault.set_secret(BANNER, BANNER_VALUE)
    app = azure_emulator.app
    app_key = canaries.add(app.secrets[0], "AppKey")
    return {
        "CONNECTION_STRING": f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey={app_key}",
        "AZURE_AD_INSTANCE": azure_emulator.authority,
        "KEY_VAULT_URL": azure_emulator.vault.url,
        "CACHE_ENCRYPTION_KEY": canaries.add(Fernet.generate_key().decode(), "cache encryption key"),
    }


@pytest.fixture
def django_site(settings: Any, planted: dict[str, str]) -> Iterator[Any]:
    from appauth_django import conf

    settings.DEBUG = True  # the most a template can show ({% debug %}, errors raised rather than swallowed)
    settings.ROOT_URLCONF = __name__
    settings.TEMPLATES = TEMPLATES
    settings.APPAUTH = {**planted, "TEMPLATE_SECRETS": [BANNER], "CACHE": "default"}
    yield settings
    conf.reload()


def flask_app(planted: dict[str, str], sandboxed: bool) -> Any:
    from flask import Flask, g, render_template_string
    from flask.templating import Environment
    from flask_caching import Cache
    from jinja2.sandbox import SandboxedEnvironment

    from appauth_flask import AppAuth

    class SandboxedFlaskEnvironment(SandboxedEnvironment, Environment):
        """Flask's template environment (app templates, globals) inside Jinja's sandbox."""

    class SandboxedFlask(Flask):
        jinja_environment = SandboxedFlaskEnvironment

    app = (SandboxedFlask if sandboxed else Flask)(f"templates_{uuid.uuid4().hex[:8]}")
    cache = Cache(app, config={"CACHE_TYPE": "SimpleCache"})
    app.config.update({f"APPAUTH_{key}": value for key, value in planted.items()})
    app.config.update(APPAUTH_TEMPLATE_SECRETS=[BANNER], APPAUTH_CACHE=cache)
    AppAuth(app)
    engine = "flask-sandboxed" if sandboxed else "flask"

    @app.get("/table")
    def flask_table() -> dict[str, Any]:
        before_the_template(g.appauth)
        outcomes = render_each(table(engine, g.appauth), lambda text: render_template_string(text, name=PRIVATE))
        return {"outcomes": outcomes}

    return app


def run_table(engine: str, request: pytest.FixtureRequest, planted: dict[str, str]) -> tuple[list[Any], Any]:
    """The table's outcomes for ``engine``, rendered in a request of a real site, and that site's provider."""
    if engine.startswith("django"):
        from django.test import Client

        from appauth_django.conf import get_services

        request.getfixturevalue("django_site")
        response = Client().get("/table", {"engine": engine})
        assert response.status_code == 200
        return response.json()["outcomes"], get_services().provider
    app = flask_app(planted, sandboxed=engine == "flask-sandboxed")
    response = app.test_client().get("/table")
    assert response.status_code == 200, response.text
    with app.app_context():
        return response.json["outcomes"], app.extensions["appauth"].provider


@pytest.mark.parametrize("engine", ["django", "django-jinja2", "flask", "flask-sandboxed"])
def test_templates_reach_nothing_secret(
    engine: str, request: pytest.FixtureRequest, planted: dict[str, str], canaries: Canaries, azure_emulator
) -> None:
    outcomes, provider = run_table(engine, request, planted)
    for resource in RESOURCES:  # the tokens the view obtained (cached: the same ones)
        canaries.add(provider.get_access_token(resource), f"token for {resource}")

    assert len(outcomes) >= 60, "the table is too small to say anything"
    leaks = [f"{expression!r} rendered {canaries.leaks(text)}" for expression, text in outcomes if canaries.leaks(text)]
    assert not leaks, f"{engine}: {len(leaks)} of {len(outcomes)} expressions reached a secret:\n" + "\n".join(leaks)

    # Not vacuous: the facade is in the context, and the supported template path still renders.
    rendered = dict(outcomes)
    assert rendered["{{ @@.principal.app_id }}".replace(A, facade_path(engine))] == azure_emulator.app.app_id
    if engine in SUPPORTED:
        assert rendered[SUPPORTED[engine]] == BANNER_VALUE
