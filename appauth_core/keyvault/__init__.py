"""Key Vault secrets: ``KeyVaultSecrets``, its caches (in-process, shared/Redis), the vault client,
``@Microsoft.KeyVault(...)`` references, the walk over nested settings and the one concurrent resolver of
references (``resolve_each``). Built on ``tokens``; imports nothing from ``web``.

Users import the public names from ``appauth_core``; the names here are what ``web`` and the adapters use.
"""

from ._references import check_secret_name, is_reference
from ._secrets import KeyVaultSecrets, SecretMetadata, resolve_each
from ._shared_cache import RedisSecretCache, SharedSecretCache, SupportsAdd
from ._walk import Path, find_references, replace_references

__all__ = [
    "KeyVaultSecrets",
    "Path",
    "RedisSecretCache",
    "SecretMetadata",
    "SharedSecretCache",
    "SupportsAdd",
    "check_secret_name",
    "find_references",
    "is_reference",
    "replace_references",
    "resolve_each",
]
