"""``AzureEmulator.on_token_issued``: every issued token reaches the listeners, through every endpoint."""

from __future__ import annotations

from typing import Any

import msal

from appauth_core.testing import AzureEmulator
from appauth_core.testing._tokens import IssuedToken


def test_listeners_see_tokens_from_the_token_endpoint_and_direct_issue_until_removed(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    seen: list[tuple[str, str]] = []

    def listener(claims: dict[str, Any], issued: IssuedToken) -> None:
        seen.append((claims["aud"], issued.access_token))

    emulator = azure_emulator
    remove = emulator.on_token_issued(listener)
    direct = emulator.issue_token("https://ossrdbms-aad.database.windows.net")
    app = msal.ConfidentialClientApplication(
        emulator.app.app_id,
        client_credential=emulator.app.secrets[0],
        authority=f"{emulator.authority}{emulator.tenant_id}",
        instance_discovery=False,
        validate_authority=False,
    )
    result = app.acquire_token_for_client(["https://vault.azure.net/.default"])
    remove()
    remove()  # removing twice is harmless
    emulator.issue_token("https://management.azure.com/")

    assert seen == [
        ("https://ossrdbms-aad.database.windows.net", direct.access_token),
        ("https://vault.azure.net", result["access_token"]),
    ]
