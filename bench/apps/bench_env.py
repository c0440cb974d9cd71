"""What both benchmark apps read from the environment (App Service app settings, in effect)."""

from __future__ import annotations

import os

WITH_APPAUTH = os.environ.get("BENCH_APPAUTH", "1") == "1"
VAULT_URL = os.environ.get("BENCH_VAULT_URL", "")
SECRET_NAME = os.environ.get("BENCH_SECRET_NAME", "bench-request-secret")
CONSTANT = os.environ.get("BENCH_CONSTANT", "c" * 64)  # as long as the secret, so both answers weigh the same
