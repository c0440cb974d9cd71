"""The names of azure-identity's ``EnvironmentCredential`` variables, shared by ``_environment`` (which reads
them) and ``_environment_credential`` (which signs in with them), so neither imports the other for them."""

from __future__ import annotations

CLIENT_ID = "AZURE_CLIENT_ID"
TENANT_ID = "AZURE_TENANT_ID"
CLIENT_SECRET = "AZURE_CLIENT_SECRET"
CERTIFICATE_PATH = "AZURE_CLIENT_CERTIFICATE_PATH"
CERTIFICATE_PASSWORD = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
AUTHORITY_HOST = "AZURE_AUTHORITY_HOST"
VARIABLES = (CLIENT_ID, TENANT_ID, CLIENT_SECRET, CERTIFICATE_PATH, CERTIFICATE_PASSWORD, AUTHORITY_HOST)
SETTING_NAMES = {"AppId": CLIENT_ID, "TenantId": TENANT_ID, "AppKey": CLIENT_SECRET}
"""What Entra's fix hints call the connection-string keys when the values came from these variables."""
METHOD = "Service principal from the environment"
HOW_TO_SET = f"set {CLIENT_ID}, {TENANT_ID} and {CLIENT_SECRET} (or {CERTIFICATE_PATH})"
