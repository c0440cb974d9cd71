"""Offline stand-ins for Entra ID, the managed-identity endpoints and Key Vault, for tests and demos.

``AzureEmulator`` runs them on loopback ports with a CA made at start; the pytest plugin
(``appauth_core.testing.pytest_plugin``, registered as an entry point) offers them as fixtures;
``python -m appauth_core.testing --env-file FILE`` runs them in the foreground.
"""

from ._directory import (
    ApiRegistration,
    AppRegistration,
    ClientCertificate,
    FederatedCredential,
    ManagedIdentity,
    Tenant,
)
from ._eventgrid import EVENT_GRID_APP_ID, DeliveryAttempt, EventSubscription, SubscriptionValidationError
from ._faults import Fault
from ._keyvault import SecretVersion, Vault
from .azure_cli import dead_proxy, signed_in_azure_cli
from .emulator import AzureEmulator

__all__ = [
    "EVENT_GRID_APP_ID",
    "ApiRegistration",
    "AppRegistration",
    "AzureEmulator",
    "ClientCertificate",
    "DeliveryAttempt",
    "EventSubscription",
    "Fault",
    "FederatedCredential",
    "ManagedIdentity",
    "SecretVersion",
    "SubscriptionValidationError",
    "Tenant",
    "Vault",
    "dead_proxy",
    "signed_in_azure_cli",
]
