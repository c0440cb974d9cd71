"""The Django demo site: settings with Key Vault references, the appauth middleware and template tag."""
