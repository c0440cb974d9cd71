"""appauth core: Azure tokens and Key Vault secrets for Python apps, with no framework imports.

The token provider and Key Vault lookups are not released yet; ``appauth_core.testing`` (the offline
Azure emulator and its pytest fixtures) is.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
