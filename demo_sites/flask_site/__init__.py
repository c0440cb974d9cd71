"""The Flask demo site: config with Key Vault references, the AppAuth extension and its Jinja global."""
