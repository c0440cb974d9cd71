"""How a message names a setting: as the user wrote it, in the layer they configure appauth in.

One setting, three spellings: ``APPAUTH['ALLOWED_VAULT_HOSTS']`` in Django, ``APPAUTH_ALLOWED_VAULT_HOSTS`` in
Flask, ``KeyVaultSecrets(allowed_hosts=...)`` in plain Python. The core knows a setting by its key in
``config.KEYS``; each adapter already tells the core how it spells a key, with the format string it hands to
``AppAuthConfig.from_mapping`` and ``AppAuthServices`` (``spell``: ``"APPAUTH['{}']"``, ``"APPAUTH_{}"``).
``AppAuthServices`` hands the same string on to the provider and ``KeyVaultSecrets``, so every error they raise
(and its ``setting``) names the key the way the user wrote it. Without one (``spell`` None: the classes used
directly) a setting is named by the constructor argument that takes it (``PLAIN_PYTHON``). Environment
variables (``REQUESTS_CA_BUNDLE``, ``AzureServicesAuthConnectionString``) have one name in every layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PLAIN_PYTHON: Mapping[str, str] = MappingProxyType(
    {
        "CONNECTION_STRING": "AzureServiceTokenProvider(connection_string=...)",
        "AZURE_AD_INSTANCE": "AzureServiceTokenProvider(azure_ad_instance=...)",
        "KEY_VAULT_URL": "KeyVaultSecrets(vault_url=...)",
        "SECRET_CACHE_SECONDS": "KeyVaultSecrets(cache_seconds=...)",
        "CACHE": "KeyVaultSecrets(shared_cache=...)",
        "CACHE_ENCRYPTION_KEY": "KeyVaultSecrets(encryption_key=...)",
        "ALLOWED_VAULT_HOSTS": "KeyVaultSecrets(allowed_hosts=...)",
        "VAULT_SUFFIX": "KeyVaultSecrets(vault_suffix=...)",
        "KEY_VAULT_RESOURCE": "KeyVaultSecrets(key_vault_resource=...)",
    }
)
"""A key of ``config.KEYS`` -> the constructor argument that takes it. ``TEMPLATE_SECRETS`` and
``RESOLVE_REFERENCES`` are the adapters' own: they have no argument."""


def setting_name(key: str, spell: str | None = None) -> str:
    """``key`` (of ``config.KEYS``) as the user writes it: with an adapter's ``spell``, else as a constructor
    argument (the key itself for the two that have none)."""
    if spell is not None:
        return spell.format(key)
    return PLAIN_PYTHON.get(key, key)
