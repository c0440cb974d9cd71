"""Templates and the service-to-service surface (issue 17), Flask side: ``g.appauth.caller`` may be shown,
``g.appauth.api`` sends the app's tokens and Jinja's sandbox refuses to call it (``alters_data``), so a
sandboxed template rendered in a protected view reaches no downstream API and shows no token. (Outside a
sandbox Jinja templates are trusted code: they can call anything.)"""

from __future__ import annotations

import uuid

from flask import Flask, render_template_string
from flask.templating import Environment
from jinja2.sandbox import SandboxedEnvironment

from appauth_core import AzureServiceTokenProvider
from appauth_flask import AppAuth
from tests.api_support import register_orders_api
from tests.core.outbound_support import ApiServer

CALLS = [
    "{{ g.appauth.api('orders') }}",
    "{{ g.appauth.api('orders').get('whoami').text }}",
    "{% set s = g.appauth.api('orders') %}{{ s.headers }}",
    "{{ g.appauth.api.__call__('orders') }}",
]
WALKS = ["{{ g.appauth.api }}", "{{ g.appauth.api.orders }}", "{{ g.appauth.caller }}", "{{ g.appauth._caller }}"]


class SandboxedFlaskEnvironment(SandboxedEnvironment, Environment):
    """Flask's template environment inside Jinja's sandbox."""


class SandboxedFlask(Flask):
    jinja_environment = SandboxedFlaskEnvironment


def test_the_sandbox_never_calls_a_downstream_api(azure_emulator, azure_emulator_env):
    appauth = AppAuth()
    audience = register_orders_api(azure_emulator, "flask-templates").app_id_uri
    with ApiServer() as downstream:
        app = SandboxedFlask(f"api_templates_{uuid.uuid4().hex[:8]}")
        app.config.update(
            APPAUTH_API_AUDIENCE=audience,
            APPAUTH_API_TENANT_ID=azure_emulator.tenant_id,
            APPAUTH_API_AUTHORITY=azure_emulator.authority,
            APPAUTH_DOWNSTREAM_APIS={"orders": {"BASE_URL": downstream.url, "RESOURCE": audience}},
        )
        appauth.init_app(app)

        @app.get("/rendered")
        @appauth.require_token
        def rendered() -> dict[str, str]:
            outcomes = {}
            for expression in [*CALLS, *WALKS, "{{ g.appauth.caller.client_id }}"]:
                try:
                    outcomes[expression] = render_template_string(expression)
                except Exception as error:  # the sandbox refused: its message is what a page shows
                    outcomes[expression] = f"{type(error).__name__}: {error}"
            return outcomes

        token = AzureServiceTokenProvider().get_access_token(audience)
        response = app.test_client().get("/rendered", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        outcomes = response.json
        assert downstream.seen == []
    for expression in CALLS:
        assert outcomes[expression].startswith("SecurityError"), (expression, outcomes[expression])
    for expression, text in outcomes.items():
        assert token not in text, expression
    client_id = azure_emulator.directory.system_identity.client_id
    assert outcomes["{{ g.appauth.caller.client_id }}"] == client_id
    assert client_id in outcomes["{{ g.appauth.caller }}"]
